"""Form answer parsers (actions/validators.py) and support hours (actions/settings.py)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from actions.settings import SupportHours
from actions.validators import (
    field_to_change,
    format_date,
    parse_consult_mode,
    parse_date,
    parse_mobile,
    parse_name,
    parse_time,
    parse_yes_no,
)
from spine_db.masking import mask_mobile

TODAY = date(2026, 11, 24)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9876543210", "+919876543210"),
        ("98765 43210", "+919876543210"),
        ("98765-43210", "+919876543210"),
        ("+91 98765 43210", "+919876543210"),
        ("+91-9876543210", "+919876543210"),
        ("919876543210", "+919876543210"),
        ("09876543210", "+919876543210"),
        ("(0) 98765.43210", "+919876543210"),
        ("6000000000", "+916000000000"),
        ("my number is 98765 43210", "+919876543210"),
    ],
)
def test_valid_indian_mobiles_are_normalised(text: str, expected: str) -> None:
    assert parse_mobile(text).value == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("5876543210", "utter_invalid_mobile_start"),
        ("0123456789", "utter_invalid_mobile_start"),
        ("98765", "utter_invalid_mobile_length"),
        ("987654321012", "utter_invalid_mobile_length"),
        ("+44 7911 123456", "utter_invalid_mobile_length"),
        ("call me", "utter_invalid_mobile_format"),
        ("98765abcde", "utter_invalid_mobile_format"),
        ("", "utter_invalid_mobile_format"),
    ],
)
def test_invalid_mobiles_say_why(text: str, error: str) -> None:
    parsed = parse_mobile(text)
    assert not parsed.ok
    assert parsed.error == error


def test_mobile_is_masked_for_display() -> None:
    assert mask_mobile("+919876543210") == "+91 98XXXXXX10"
    assert mask_mobile("") == "your number"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", date(2026, 11, 24)),
        ("tomorrow", date(2026, 11, 25)),
        ("tmrw", date(2026, 11, 25)),
        ("day after tomorrow", date(2026, 11, 26)),
        ("next Monday", date(2026, 11, 30)),
        ("monday", date(2026, 11, 30)),
        ("this friday", date(2026, 11, 27)),
        ("next tuesday", date(2026, 12, 1)),
        ("on friday please", date(2026, 11, 27)),
        ("5 Dec", date(2026, 12, 5)),
        ("5th december", date(2026, 12, 5)),
        ("dec 5", date(2026, 12, 5)),
        ("05/12", date(2026, 12, 5)),
        ("10/12/2026", date(2026, 12, 10)),
        ("in 3 days", date(2026, 11, 27)),
        ("3rd", date(2026, 12, 3)),
        ("1 jan", date(2027, 1, 1)),
        ("2026-11-30", date(2026, 11, 30)),
    ],
)
def test_natural_dates(text: str, expected: date) -> None:
    assert parse_date(text, TODAY).value == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("yesterday", "utter_invalid_date_past"),
        ("20/11/2026", "utter_invalid_date_past"),
        ("1 march", "utter_invalid_date_too_far"),
        ("in 61 days", "utter_invalid_date_too_far"),
        ("asap", "utter_invalid_date_format"),
        ("Ravi Kumar", "utter_invalid_date_format"),
        ("", "utter_invalid_date_format"),
    ],
)
def test_dates_not_accepted(text: str, error: str) -> None:
    assert parse_date(text, TODAY).error == error


@pytest.mark.parametrize(
    ("text", "today", "expected", "error"),
    [
        # a day and month without a year, said on that very day, is today (not next year's)
        ("5 dec", date(2026, 12, 5), date(2026, 12, 5), None),
        ("5th December", date(2026, 12, 5), date(2026, 12, 5), None),
        ("05/12", date(2026, 12, 5), date(2026, 12, 5), None),
        ("dec 5", date(2026, 12, 5), date(2026, 12, 5), None),
        # the day before: it has passed (not "choose an earlier date", a year ahead)
        ("4 dec", date(2026, 12, 5), None, "utter_invalid_date_past"),
        ("1 nov", date(2026, 12, 5), None, "utter_invalid_date_past"),
        ("30 dec", date(2027, 1, 3), None, "utter_invalid_date_past"),
        # across the new year: next month, not last January
        ("12 jan", date(2026, 12, 5), date(2027, 1, 12), None),
        ("2/1", date(2026, 12, 30), date(2027, 1, 2), None),
        # a month well ahead next year is too far, not passed
        ("5 mar", date(2026, 12, 5), None, "utter_invalid_date_too_far"),
    ],
)
def test_day_and_month_without_a_year_take_the_nearest_year(
    text: str, today: date, expected: date | None, error: str | None
) -> None:
    parsed = parse_date(text, today)
    assert (parsed.value, parsed.error) == (expected, error)


def test_sixty_days_ahead_is_the_limit() -> None:
    assert parse_date("in 60 days", TODAY).ok
    assert parse_date("23 jan", TODAY).ok  # day 60
    assert parse_date("24 jan", TODAY).error == "utter_invalid_date_too_far"


def test_dates_are_echoed_in_full() -> None:
    assert format_date(date(2026, 11, 30)) == "Monday, 30 November 2026"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("morning", "Morning"),
        ("Evening please", "Evening"),
        ("afternoon", "Afternoon"),
        ("any time is fine", "Any time"),
        ("10am", "10:00 AM"),
        ("10 am", "10:00 AM"),
        ("4:30 pm", "4:30 PM"),
        ("16:00", "4:00 PM"),
        ("12 pm", "12:00 PM"),
    ],
)
def test_time_of_day_or_slot(text: str, expected: str) -> None:
    assert parse_time(text).value == expected


@pytest.mark.parametrize("text", ["3", "25:00", "whenever the doctor says no", "soon"])
def test_times_not_accepted(text: str) -> None:
    assert parse_time(text).error == "utter_invalid_time"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Asha Verma", "Asha Verma"),
        ("my name is ravi kumar", "Ravi Kumar"),
        ("I'm Priya", "Priya"),
        ("D'Souza", "D'Souza"),
        ("Asha R.", "Asha R."),
        ("Anjali Sen-Gupta", "Anjali Sen-Gupta"),
        ("राहुल शर्मा", "राहुल शर्मा"),
        ("Will Hope", "Will Hope"),
        ("Anand De Souza", "Anand De Souza"),
    ],
)
def test_names(text: str, expected: str) -> None:
    assert parse_name(text).value == expected


@pytest.mark.parametrize(
    "text",
    [
        "123",
        "a",
        "yes",
        "thanks",
        "x" * 61,
        "Asha 42",
        "<b>Asha</b>",
        "explain everything from start till end",
        "what is the recovery time",
    ],
)
def test_not_names(text: str) -> None:
    assert parse_name(text).error == "utter_invalid_name"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("Yes, I agree", True),
        ("ok", True),
        ("haan", True),
        ("confirm", True),
        ("no", False),
        ("No thanks", False),
        ("nahi", False),
    ],
)
def test_yes_no(text: str, expected: bool) -> None:
    assert parse_yes_no(text).value is expected


def test_yes_no_neither() -> None:
    assert parse_yes_no("maybe later").error == "utter_invalid_yes_no"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Online consultation", "online"),
        ("video call please", "online"),
        ("Hospital visit", "hospital_visit"),
        ("in person", "hospital_visit"),
    ],
)
def test_consultation_mode(text: str, expected: str) -> None:
    assert parse_consult_mode(text).value == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("change the date", "preferred_date"),
        ("change date", "preferred_date"),
        ("i want to change the time", "preferred_time"),
        ("wrong number, change my mobile", "mobile"),
        ("change my phone number", "mobile"),
        ("change doctor", "doctor_id"),
        ("can i change my name", "patient_name"),
        ("make it online instead", "consult_mode"),
        ("change consultation type", "consult_mode"),
        ("change something", None),
    ],
)
def test_which_answer_to_change(text: str, expected: str | None) -> None:
    assert field_to_change(text) == expected


LOCAL_TZ = ZoneInfo("Asia/Kolkata")
HOURS = SupportHours.parse("Mon-Sat 09:00-18:00", "Asia/Kolkata")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 24, 11, 0, tzinfo=LOCAL_TZ), "today before 18:00"),  # Tuesday
        (datetime(2026, 11, 24, 7, 30, tzinfo=LOCAL_TZ), "today from 09:00"),
        (datetime(2026, 11, 24, 19, 0, tzinfo=LOCAL_TZ), "tomorrow from 09:00"),
        (datetime(2026, 11, 28, 18, 30, tzinfo=LOCAL_TZ), "on Monday from 09:00"),  # Saturday night
        (datetime(2026, 11, 29, 12, 0, tzinfo=LOCAL_TZ), "tomorrow from 09:00"),  # Sunday
    ],
)
def test_when_support_calls_back(now: datetime, expected: str) -> None:
    assert HOURS.when_we_call(now) == expected


def test_support_hours_are_described_and_validated() -> None:
    assert HOURS.describe() == "Monday to Saturday, 09:00–18:00 (IST)"
    with pytest.raises(ValueError, match="SUPPORT_HOURS"):
        SupportHours.parse("weekdays 9 to 5")
    with pytest.raises(ValueError, match="closes before"):
        SupportHours.parse("Mon-Fri 18:00-09:00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10 a.m.", "10:00 AM"),
        ("4 p.m.", "4:00 PM"),
        ("I am free in the evening", "Evening"),
        ("pm", "Afternoon"),
    ],
)
def test_time_edge_cases(text: str, expected: str) -> None:
    assert parse_time(text).value == expected


@pytest.mark.parametrize("text", ["32", "00", "99", "1st of next month"])
def test_numbers_that_are_no_date_are_asked_again(text: str) -> None:
    assert parse_date(text, TODAY).error == "utter_invalid_date_format"


def test_only_ascii_digits_in_mobiles() -> None:
    assert parse_mobile("+919८७६५४३२१०").error == "utter_invalid_mobile_format"


@pytest.mark.parametrize(
    ("parser", "text", "error"),
    [
        (lambda t: parse_date(t, TODAY), "1 " * 1000, "utter_invalid_date_format"),
        (lambda t: parse_date(t, TODAY), "1" * 2000, "utter_invalid_date_format"),
        (lambda t: parse_date(t, TODAY), "tomorrow " * 200, "utter_invalid_date_format"),
        (lambda t: parse_date(t, TODAY), "5 dec " + "x" * 60, "utter_invalid_date_format"),
        (parse_time, "9" * 2000, "utter_invalid_time"),
        (parse_mobile, "9" * 2000, "utter_invalid_mobile_format"),
        (parse_mobile, "98765 43210 " * 20, "utter_invalid_mobile_format"),
    ],
)
def test_oversized_answers_are_refused_at_once(parser: Any, text: str, error: str) -> None:
    """dateparser took ~2 s on 1,000 digits and raised RecursionError on "1 " * 1000, on the
    action server's event loop; an answer no patient would type is refused before parsing."""
    assert parser(text).error == error
