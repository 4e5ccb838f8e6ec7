"""Pure parsers for the booking and call-back forms. No Rasa imports: unit-tested on their own.

Each parser returns ``Parsed(value)`` or ``Parsed(error=...)``, where ``error`` names the response
that tells the user why the answer was not accepted (see the form base class in forms.py).
``understood=True`` with an error marks an answer of the right kind that breaks a rule (a date in
the past, ten digits starting with 1): the user answered the question, just not acceptably.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import dateparser

MAX_DAYS_AHEAD = 60
# Patient text reaches these parsers from a form; dateparser's cost grows steeply with length
# (~2 s for 1,000 digits, a RecursionError for "1 " * 1000) and it runs on the action server's event
# loop, where it would delay every patient's actions. No real answer is longer than these.
MAX_DATE_CHARS = 40
MAX_DATE_WORDS = 6
MAX_MOBILE_CHARS = 40
MAX_TIME_CHARS = 80

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTH_WORDS = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Parsed:
    value: Any = None
    error: str | None = None
    understood: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.value is not None

    @property
    def answers(self) -> bool:
        """The text is an answer to the question asked (valid, or of the right kind)."""
        return self.ok or self.understood


# --- mobile number --------------------------------------------------------------------------

_MOBILE = re.compile(r"^(?:\+?91|0)?([6-9][0-9]{9})$")


def parse_mobile(text: str) -> Parsed:
    """Indian mobile: 10 digits starting 6-9, optional +91 / 91 / 0 prefix; spaces, dashes, dots and
    brackets allowed. Normalised to ``+91XXXXXXXXXX``."""
    if len(text or "") > MAX_MOBILE_CHARS:
        return Parsed(error="utter_invalid_mobile_format")
    compact = re.sub(r"[\s\-().]", "", text or "")
    if not re.fullmatch(r"\+?[0-9]+", compact):
        # "my number is 98765 43210": take the one phone-like part of a sentence
        candidates = re.findall(r"\+?[0-9][0-9\s\-().]{8,}[0-9]", text or "")
        if len(candidates) != 1:
            return Parsed(error="utter_invalid_mobile_format")
        compact = re.sub(r"[\s\-().]", "", candidates[0])
    match = _MOBILE.match(compact)
    if not match:
        digits = compact.lstrip("+")
        if len(digits) == 10 and digits[0] in "012345":
            return Parsed(error="utter_invalid_mobile_start", understood=True)
        return Parsed(error="utter_invalid_mobile_length", understood=True)
    return Parsed(f"+91{match.group(1)}")


# --- preferred date -----------------------------------------------------------------------

_TOMORROW_TYPOS = re.compile(r"\b(tmrw|tmr|tmrow|tomorow|tommorow|tommorrow|tomorro)\b")
_FILLER = re.compile(
    r"\b(on|at|for|please|pls|plz|the|in the|preferably|maybe|around|"
    r"(?:morning|afternoon|evening))\b"
)
_WEEKDAY_PHRASE = re.compile(rf"^(?:(next|this|coming)\s+)?({'|'.join(WEEKDAYS)})$")
_DAY_OF_MONTH = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?$")


def parse_date(text: str, today: date, max_days: int = MAX_DAYS_AHEAD) -> Parsed:
    """Natural dates ("tomorrow", "next Monday", "5 Dec", "05/12") into a date that is not in the
    past and at most ``max_days`` ahead. Day-first for numeric dates, as written in India."""
    cleaned = _TOMORROW_TYPOS.sub("tomorrow", (text or "").lower().strip())
    cleaned = re.sub(r"[,!?]", " ", cleaned)
    cleaned = re.sub(r"\s+", " ", _FILLER.sub(" ", cleaned)).strip()
    too_long = len(cleaned) > MAX_DATE_CHARS or len(cleaned.split()) > MAX_DATE_WORDS
    if not cleaned or too_long or re.search(r"\d{5,}", cleaned):
        return Parsed(error="utter_invalid_date_format")
    try:
        found = (
            _iso(cleaned)
            or _weekday(cleaned, today)
            or _day_of_month(cleaned, today)
            or _dateparser(cleaned, today)
        )
    except _NotADate:
        found = None
    if found is None:
        return Parsed(error="utter_invalid_date_format")
    if found < today:
        return Parsed(error="utter_invalid_date_past", understood=True)
    if found > today + timedelta(days=max_days):
        return Parsed(error="utter_invalid_date_too_far", understood=True)
    return Parsed(found)


class _NotADate(ValueError):
    """A number that cannot be a day of the month ("32", "00")."""


def _iso(text: str) -> date | None:
    """The form's own stored value (``2026-11-30``) when it is validated again."""
    try:
        return date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


def _weekday(text: str, today: date) -> date | None:
    match = _WEEKDAY_PHRASE.match(text)
    if not match:
        return None
    target = WEEKDAYS.index(match.group(2))
    ahead = (target - today.weekday()) % 7
    if ahead == 0 and match.group(1) in ("next", "coming"):
        ahead = 7  # "next Tuesday" said on a Tuesday means a week ahead
    return today + timedelta(days=ahead)


def _day_of_month(text: str, today: date) -> date | None:
    match = _DAY_OF_MONTH.match(text)
    if not match:
        return None
    day = int(match.group(1))
    if not 1 <= day <= 31:
        raise _NotADate(text)
    year, month = today.year, today.month
    for _ in range(3):  # this month, else the next month that has that day
        try:
            candidate = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate and candidate >= today:
            return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _dateparser(text: str, today: date) -> date | None:
    if not re.search(r"\d|tomorrow|today|week|day|" + MONTH_WORDS.pattern, text):
        return None  # dateparser reads too much into free text ("asap", names, ...)
    parsed = dateparser.parse(
        text,
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": datetime.combine(today, datetime.min.time()).replace(hour=12),
            "DATE_ORDER": "DMY",
            "PREFER_DAY_OF_MONTH": "first",
            "REQUIRE_PARTS": [],
        },
    )
    if parsed is None:
        return None
    found = parsed.date()
    ordinal = re.search(r"\b(\d{1,2})(?:st|nd|rd|th)\b", text)
    if ordinal and int(ordinal.group(1)) != found.day:
        return None  # "1st of next month" read as some other day: ask again rather than guess
    explicit = MONTH_WORDS.search(text) or re.search(r"\b\d{1,2}[/.\-]\d{1,2}\b", text)
    if explicit and not re.search(r"\b\d{4}\b", text):
        return _nearest_year(found, today)
    return found


def _nearest_year(found: date, today: date) -> date:
    """A day and month said without a year, in the year that puts it nearest to today: "5 Dec"
    said on 5 December is today (dateparser's "prefer the future" makes it next year's), "4 Dec"
    is yesterday (the patient hears it has passed, not that it is a year ahead), "12 Jan" said in
    December is next month."""
    candidates = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            candidates.append(found.replace(year=year))
        except ValueError:  # 29 February
            continue
    if not candidates:
        return found
    # Nearest first; of two equally near, the coming one.
    return min(candidates, key=lambda c: (abs((c - today).days), c < today))


def format_date(value: date) -> str:
    return f"{value:%A}, {value.day} {value:%B %Y}"


# --- preferred time -----------------------------------------------------------------------

TIME_OF_DAY = {
    "morning": "Morning",
    "afternoon": "Afternoon",
    "evening": "Evening",
    "any": "Any time",
}
_TIME_WORDS = {
    "morning": "morning",
    "mornin": "morning",
    "forenoon": "morning",
    "afternoon": "afternoon",
    "noon": "afternoon",
    "lunch": "afternoon",
    "evening": "evening",
    "eve": "evening",
    "anytime": "any",
    "any": "any",
    "flexible": "any",
}
_CLOCK = re.compile(r"\b(\d{1,2})(?::|\.)?(\d{2})?\s*(am|pm|a\.m\.|p\.m\.)?(?!\w)")
_HALF_DAY = {"am": "morning", "a.m.": "morning", "pm": "afternoon", "p.m.": "afternoon"}


def parse_time(text: str) -> Parsed:
    """A time of day ("morning", "afternoon", "evening", "any time") or a clock slot ("10am",
    "4:30 pm", "16:00"). Clock slots must say am/pm or use 24-hour time."""
    lowered = (text or "").lower().strip()
    if len(lowered) > MAX_TIME_CHARS:
        return Parsed(error="utter_invalid_time")
    clock = _CLOCK.search(lowered)
    if clock and (clock.group(3) or clock.group(2) or int(clock.group(1)) > 12):
        hour, minute = int(clock.group(1)), int(clock.group(2) or 0)
        suffix = (clock.group(3) or "").replace(".", "")
        if suffix == "pm" and hour < 12:
            hour += 12
        if suffix == "am" and hour == 12:
            hour = 0
        if hour > 23 or minute > 59:
            return Parsed(error="utter_invalid_time")
        return Parsed(f"{datetime(2000, 1, 1, hour, minute):%I:%M %p}".lstrip("0"))
    words = re.findall(r"[a-z]+", lowered)
    for word in words:  # "morning", "evening", ... wherever they are in the answer
        if word in _TIME_WORDS:
            return Parsed(TIME_OF_DAY[_TIME_WORDS[word]])
    whole = lowered.replace(".", "").strip()
    if whole in ("am", "pm"):  # "am" only as the whole answer ("I am free ..." is not a time)
        return Parsed(TIME_OF_DAY[_HALF_DAY[whole]])
    return Parsed(error="utter_invalid_time")


# --- patient name ------------------------------------------------------------------------

_NAME_PREFIX = re.compile(
    r"^(?:my name is|my name's|i am|i'm|im|this is|name is|name:|it's|its)\s+", re.IGNORECASE
)
NOT_NAMES = {
    "yes",
    "no",
    "ok",
    "okay",
    "hi",
    "hello",
    "hey",
    "stop",
    "cancel",
    "help",
    "why",
    "what",
    "thanks",
    "thank you",
    "thankyou",
    "bye",
    "goodbye",
    "sure",
    "fine",
    "none",
    "nothing",
    "skip",
    "test",
    "no name",
}


def _is_name_text(text: str) -> bool:
    """Letters of any script (with their combining marks), single spaces, dots, apostrophes,
    hyphens; starts with a letter."""
    if not unicodedata.category(text[0]).startswith("L"):
        return False
    for char in text:
        category = unicodedata.category(char)
        if not (category[0] in "LM" or char in " .'-’"):
            return False
    return not re.search(r"[.'\-’]{2,}", text)


# Words that make an answer a sentence, not a name ("explain everything from start till end" is
# not a patient's name). Two of them in one answer refuse it; none is a name.
SENTENCE_WORDS = frozenset(
    "explain everything anything something what how why when where which who tell please want "
    "need know from till until about the is are was were can could would should does did have has "
    "my your me you it this that there here to for with of at not help start end question "
    "doctor surgery pain".split()
)


def parse_name(text: str) -> Parsed:
    """A person's name as typed ("Ravi Kumar", "my name is Asha R.", "D'Souza"): letters (any
    script), spaces, dots, apostrophes and hyphens; 2-60 characters, at most 6 words."""
    cleaned = _NAME_PREFIX.sub("", (text or "").strip()).strip()
    cleaned = re.sub(r"\s+", " ", cleaned)
    if len(cleaned) < 2 or len(cleaned) > 60 or len(cleaned.split()) > 6:
        return Parsed(error="utter_invalid_name")
    if not _is_name_text(cleaned) or cleaned.lower().rstrip(".") in NOT_NAMES:
        return Parsed(error="utter_invalid_name")
    if sum(word in SENTENCE_WORDS for word in cleaned.lower().split()) >= 2:
        return Parsed(error="utter_invalid_name")
    if cleaned.islower() or cleaned.isupper():
        cleaned = " ".join(part[:1].upper() + part[1:].lower() for part in cleaned.split())
    return Parsed(cleaned)


# --- yes / no, consultation mode, which field to change ---------------------------------

_YES = {
    "yes",
    "y",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "agree",
    "i agree",
    "confirm",
    "correct",
    "right",
    "haan",
    "ha",
    "han",
    "ji",
    "haan ji",
    "of course",
    "please do",
    "go ahead",
    "fine",
    "yes please",
    "that's right",
    "thats right",
    "all good",
    "looks good",
}
_NO = {
    "no",
    "n",
    "nope",
    "nah",
    "don't",
    "dont",
    "do not",
    "disagree",
    "nahi",
    "na",
    "not now",
    "no thanks",
    "no thank you",
    "wrong",
    "incorrect",
    "not correct",
}


def parse_yes_no(text: str) -> Parsed:
    lowered = re.sub(r"[^a-z' ]", " ", (text or "").lower())
    lowered = re.sub(r"\s+", " ", lowered).strip()
    if lowered in _YES or lowered.startswith(("yes ", "yes,", "confirm", "i agree", "i consent")):
        return Parsed(True)
    if lowered in _NO or lowered.startswith(("no ", "no,", "i don't", "i do not", "don't")):
        return Parsed(False)
    return Parsed(error="utter_invalid_yes_no")


CONSULT_MODES = {"online": "Online consultation", "hospital_visit": "Hospital visit"}


def parse_consult_mode(text: str) -> Parsed:
    lowered = (text or "").lower()
    if re.search(r"\b(online|video|virtual|tele|teleconsult\w*|phone|remote|from home)\b", lowered):
        return Parsed("online")
    if re.search(r"\b(hospital|visit|in[\s-]?person|clinic|opd|physical|offline|face)\b", lowered):
        return Parsed("hospital_visit")
    return Parsed(error="utter_invalid_consult_mode")


BOOKING_FIELDS = {
    "doctor_id": r"doctor|dr\b|specialist|surgeon",
    "consult_mode": r"mode|online|visit|in[\s-]?person|video|consultation type",
    "preferred_date": r"date|day|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday",
    "preferred_time": r"time|slot|morning|afternoon|evening|\d\s*(?:am|pm)",
    "patient_name": r"name",
    "mobile": r"mobile|phone|number|contact",
}


def field_to_change(text: str) -> str | None:
    """Which booking answer the user wants to change ("change the date" → preferred_date)."""
    lowered = (text or "").lower()
    for slot, pattern in BOOKING_FIELDS.items():
        if slot == "doctor_id" and re.search(r"\b(?:phone|mobile)\b", lowered):
            continue
        if re.search(rf"\b(?:{pattern})", lowered):
            return slot
    return None
