"""Metrics from the summaries, the daily counts and the requests tables; the SVG charts."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from console.charts import bar_chart, hbar_chart
from console.indexer import update_summaries
from console.metrics import compute, window
from spine_db.models import Booking, Callback
from tests.integration.test_console_indexer import add_events, slot, user
from tests.support.databases import project_database

SVG = "{http://www.w3.org/2000/svg}"
TODAY = date(2026, 11, 24)
DAY = 86400.0
NOON_TODAY = datetime(2026, 11, 24, 6, 30, tzinfo=timezone.utc).timestamp()  # 12:00 in India
AFTER_MIDNIGHT_IST = datetime(
    2026, 11, 23, 18, 45, tzinfo=timezone.utc
).timestamp()  # 00:15 in India


def faq(text: str, key: str) -> dict:
    event = user(text, "faq", 0.95)
    event["parse_data"]["response_selector"] = {
        "default": {"response": {"intent_response_key": key, "confidence": 0.9}}
    }
    return event


@pytest.fixture
def engine(tmp_path: Path) -> sa.engine.Engine:
    engine = project_database(f"sqlite:///{tmp_path / 'spine.db'}")
    # today: cards shown then a booking; an emergency; a fallback
    add_events(
        engine,
        "a",
        [
            user("spine surgeon in delhi", "find_specialist", 0.9),
            slot("specialist_ids", ["sunit-mediratta"]),
            slot("booking_reference", "BK-AAAAAA"),
        ],
        NOON_TODAY,
    )
    add_events(
        engine,
        "b",
        [
            user("i cannot feel my legs", "emergency", 0.97),
            slot("safety_flag", "emergency"),
            user("asdfgh", "nlu_fallback", 0.2),
        ],
        NOON_TODAY + 60,
    )
    # yesterday: cards shown, no booking; two FAQ questions
    add_events(
        engine,
        "c",
        [
            slot("specialist_ids", ["mayank-nakipuria"]),
            faq("how long to recover", "faq/recovery_time"),
            faq("recovery time?", "faq/recovery_time"),
            user("/greet", "greet", 1.0),
        ],
        NOON_TODAY - DAY,
    )
    # 00:15 in India today is still yesterday in UTC: counted today; a button click is not a message
    add_events(
        engine,
        "late",
        [
            user('/book_appointment{"doctor_id": "x"}', "book_appointment", 1.0),
            slot("specialist_ids", ["x"]),
        ],
        AFTER_MIDNIGHT_IST,
    )
    # 40 days ago: outside a 30-day window
    add_events(engine, "old", [user("hello there", "greet", 0.99)], NOON_TODAY - 40 * DAY)
    with engine.begin() as conn:
        for table, created in ((Booking, AFTER_MIDNIGHT_IST), (Callback, NOON_TODAY - DAY)):
            values = dict(
                reference=f"X-{table.__tablename__[:4]}",
                conversation_id="a",
                patient_name="Asha",
                mobile="+919876543210",
                contact_consent=True,
                status="new",
                created_at=datetime.fromtimestamp(created, timezone.utc),
            )
            if table is Booking:
                values.update(
                    doctor_id="d",
                    doctor_name="Dr",
                    consult_mode="online",
                    preferred_date=TODAY,
                    preferred_time="morning",
                )
            conn.execute(sa.insert(table.__table__).values(**values))
    update_summaries(engine)
    return engine


def test_window_is_ist_days_oldest_first() -> None:
    assert window(3, TODAY) == ["2026-11-22", "2026-11-23", "2026-11-24"]


def test_counts_per_day_rates_topics_and_conversion(engine: sa.engine.Engine) -> None:
    m = compute(engine, days=30, today=TODAY)
    assert len(m.days) == 30
    assert m.days[-1] == "2026-11-24"
    assert (m.conversations[-1], m.conversations[-2], sum(m.conversations)) == (3, 1, 4)
    assert (m.messages[-1], m.messages[-2]) == (3, 2)  # typed only: "/greet" was a button
    assert sum(m.fallbacks) == 1
    assert m.fallback_rate == pytest.approx(1 / 5)
    assert (m.emergencies, m.crises) == (1, 0)
    assert (m.bookings[-1], m.callbacks[-2], sum(m.bookings) + sum(m.callbacks)) == (1, 1, 2)
    assert (m.cards_conversations, m.cards_booked, m.conversion) == (3, 1, 1 / 3)
    topics = dict(m.top_topics)
    assert topics == {"Recovery time (faq/recovery_time)": 2, "find specialist": 1, "emergency": 1}
    # small talk ("greet"), "not understood" and button payloads are not topics
    assert compute(engine, days=90, today=TODAY).conversations.count(1) == 2  # the old one too
    assert compute(engine, days=1, today=date(2026, 11, 23)).conversations == [1]  # not "late"


def test_an_empty_database_has_no_rates() -> None:
    url = "sqlite://"
    engine = sa.create_engine(url, future=True)
    from spine_db.models import Base

    Base.metadata.create_all(engine)
    m = compute(engine, days=7, today=TODAY)
    assert (m.fallback_rate, m.conversion, m.top_topics) == (None, None, [])


def test_bar_chart_is_valid_svg_with_proportional_bars() -> None:
    svg = bar_chart(["11-22", "11-23", "<b>"], [5, 10, 0], "Per day & more")
    root = ET.fromstring(svg)
    assert root.get("aria-label") == "Per day & more"
    heights = [float(r.get("height") or "nan") for r in root.iter(f"{SVG}rect")]
    assert heights[1] == pytest.approx(2 * heights[0])
    assert heights[2] == 0
    assert [t.text for t in root.iter(f"{SVG}text")][0] == "10"  # axis maximum
    assert "<b>" not in svg


@pytest.mark.parametrize(("top", "axis"), [(0, "1"), (3, "5"), (11, "20"), (130, "200")])
def test_axis_maximum_is_a_round_number(top: int, axis: str) -> None:
    root = ET.fromstring(bar_chart(["a"], [top], "t"))
    assert [t.text for t in root.iter(f"{SVG}text")][0] == axis


def test_topic_chart_escapes_labels() -> None:
    svg = hbar_chart([("<script>x</script>", 3), ("Recovery", 1)], "Top")
    root = ET.fromstring(svg)
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "<script>x</script>" in labels
    assert "<script>" not in svg


def test_form_answers_are_not_misunderstandings_and_each_question_is_a_topic(
    tmp_path: Path,
) -> None:
    engine = project_database(f"sqlite:///{tmp_path / 'forms.db'}")
    name = user("Kavya Rao", "nlu_fallback", 0.3)
    name["parse_data"]["form_answer"] = {"form": "booking_form", "slot": "patient_name"}
    question = user("what is the recovery time?", "nlu_fallback", 0.3)
    question["parse_data"]["form_answer"] = {"form": "booking_form", "slot": "patient_name"}
    question["parse_data"]["intent"]["name"] = "faq"  # a question typed into the form
    two = user("how long is the cut and how many days in hospital?", "multi_question", 1.0)
    two["parse_data"]["questions"] = [
        {"text": "how long is the cut", "answer": "article/incision_size"},
        {"text": "how many days in hospital?", "answer": "article/hospital_stay"},
    ]
    add_events(
        engine,
        "f",
        [name, question, user("qwerty", "nlu_fallback", 0.2), two],
        NOON_TODAY,
    )
    update_summaries(engine)
    m = compute(engine, days=7, today=TODAY)
    # the name answered the form: neither a typed question nor a fallback
    assert (sum(m.messages), sum(m.fallbacks)) == (3, 1)
    assert m.fallback_rate == pytest.approx(1 / 3)
    topics = dict(m.top_topics)
    assert topics["Incision size (article/incision_size)"] == 1
    assert topics["Hospital stay (article/hospital_stay)"] == 1
