"""Folds Rasa's ``events`` into ``conversation_summaries`` (one row per conversation, indexed
flags), incrementally: each run reads only the events after the last one it saw.

The console calls it before listing; it can also run on a schedule
(``python -m console.indexer``). Safe to run concurrently with Rasa writing events.
"""
from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Dict, List, Sequence, Set, Tuple

import sqlalchemy as sa

from spine_db.config import support_timezone
from spine_db.models import (
    RASA_EVENTS,
    ConversationSummary,
    DailyCount,
    IndexerState,
    WhatsAppReply,
)

logger = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.5
STATE = "conversation_summaries"
OUTBOX = WhatsAppReply.__table__
EVENTS = RASA_EVENTS
FLAGS = (
    "emergency",
    "crisis",
    "urgent",
    "callback",
    "booking",
    "fallback",
    "low_confidence",
    "undelivered",  # a WhatsApp reply given up on (spine_db/whatsapp_queue.py)
)
# The urgent replies' responses and the flag each raises.
URGENT_REPLIES = {
    "utter_emergency": "emergency",
    "utter_crisis": "crisis",
    "utter_urgent": "urgent",
}
SUMMARY_FLAGS = ("emergency", "crisis", "urgent", "callback", "booking", "cards_shown")
# The clinic's days (SUPPORT_TIMEZONE), as the patient and the support team count them.
LOCAL_TZ = support_timezone()
# Intents that are not a topic a patient asks about (small talk, no understanding).
NOT_TOPICS = {"greet", "goodbye", "thank", "bot_challenge", "nlu_fallback", "cancel"}
SETTLE = 30.0  # seconds after which a gap in the event ids is taken as final
_LOCK = threading.Lock()  # one fold at a time in this process (the database serialises processes)
_GAPS: Dict[int, float] = {}  # missing event id → when this process first saw the gap


@dataclass
class Delta:
    started_at: float
    last_at: float
    channel: str | None = None
    turns: int = 0
    fallback_count: int = 0
    low_confidence_count: int = 0
    flags: Dict[str, bool] = field(default_factory=dict)


def local_day(timestamp: float) -> str:
    return datetime.fromtimestamp(float(timestamp), LOCAL_TZ).strftime("%Y-%m-%d")


def topic_of(parse: Dict[str, Any]) -> str:
    """The answer key for retrieval intents ("faq/recovery_time"), else the intent name."""
    intent = str((parse.get("intent") or {}).get("name") or "")
    selector = ((parse.get("response_selector") or {}).get("default") or {}).get("response") or {}
    key = selector.get("intent_response_key")
    return str(key) if key and intent in ("faq", "article") else intent


def topics_of(parse: Dict[str, Any]) -> List[str]:
    """Every answer a message got: one per question when it asked several
    (spine_nlu.question_finder), else its one topic."""
    questions = parse.get("questions") or []
    if len(questions) > 1:
        return [str(q.get("answer")) for q in questions if q.get("answer")]
    return [topic_of(parse)]


# What a form answer's parse says when the classifiers found no question in it (a name, a
# number, "tomorrow"): such a message answered the form, it was not misunderstood.
FORM_ANSWER_INTENTS = {"nlu_fallback", "affirm", "deny"}


def form_answer(parse: Dict[str, Any]) -> str | None:
    """The slot a message answered, when it was typed while a form waited for that answer
    (``form_answer`` in the parse, spine_nlu.form_answers) and is not a question of its own."""
    marked = parse.get("form_answer") or {}
    intent = (parse.get("intent") or {}).get("name")
    if marked.get("slot") and intent in FORM_ANSWER_INTENTS:
        return str(marked["slot"])
    return None


def replay_of(parse: Dict[str, Any]) -> str | None:
    """The check question after whose "no" this message was carried out again (``replay_of``,
    written by actions/triage.py): the patient's message a second time, counted when it came."""
    asked = parse.get("replay_of")
    return str(asked) if asked else None


_WITH_EVENTS: set = set()


def events_exist(engine: sa.engine.Engine) -> bool:
    """Whether Rasa has created its ``events`` table yet (asked until it has, then remembered)."""
    key = str(engine.url)
    if key not in _WITH_EVENTS and sa.inspect(engine).has_table("events"):
        _WITH_EVENTS.add(key)
    return key in _WITH_EVENTS


def new_conversation_key() -> str:
    """The opaque handle of a conversation in console URLs and exports: random, so it cannot be
    turned back into the conversation id (a WhatsApp id is the patient's phone number)."""
    return secrets.token_hex(12)


def key_for_sender(engine: sa.engine.Engine, sender_id: str) -> str | None:
    table = ConversationSummary.__table__
    with engine.connect() as conn:
        return conn.execute(
            sa.select(table.c.conversation_key).where(table.c.sender_id == sender_id)
        ).scalar_one_or_none()


def sender_for_key(engine: sa.engine.Engine, key: str) -> str | None:
    table = ConversationSummary.__table__
    with engine.connect() as conn:
        return conn.execute(
            sa.select(table.c.sender_id).where(table.c.conversation_key == key)
        ).scalar_one_or_none()


def fold(rows: Sequence[Any], daily: Counter | None = None) -> Dict[str, Delta]:
    """What a batch of event rows adds to each conversation's summary and, in ``daily``, to the
    per-day counters keyed (day, metric, key) (pure)."""
    deltas: Dict[str, Delta] = {}
    daily = Counter() if daily is None else daily
    for row in rows:
        delta = deltas.setdefault(row.sender_id, Delta(row.timestamp, row.timestamp))
        delta.started_at = min(delta.started_at, row.timestamp)
        delta.last_at = max(delta.last_at, row.timestamp)
        try:
            data = json.loads(row.data or "{}")
        except ValueError:
            continue
        if row.type_name == "user":
            parse = data.get("parse_data") or {}
            if replay_of(parse):
                continue
            delta.turns += 1
            delta.channel = data.get("input_channel") or delta.channel
            intent = parse.get("intent") or {}
            day = local_day(row.timestamp)
            text = str(data.get("text") or "")
            # "/intent{...}" and "topic:..." are button clicks, not typed messages; a form's
            # answer is typed but asks nothing: the fallback rate is over free questions only.
            answered_form = form_answer(parse) is not None
            typed = not text.startswith(("/", "topic:"))
            if typed and not answered_form:
                daily[(day, "messages", "")] += 1
            if answered_form:
                daily[(day, "form_answers", "")] += 1
            elif (row.intent_name or intent.get("name")) == "nlu_fallback":
                delta.fallback_count += 1
                daily[(day, "fallback", "")] += 1
            elif intent.get("confidence") is not None and intent["confidence"] < LOW_CONFIDENCE:
                delta.low_confidence_count += 1
            # Urgent replies come from rules (no action sets a slot): the message's own parse
            # carries the flag, stored in the same event as the message.
            if intent.get("name") in ("emergency", "crisis", "urgent"):
                delta.flags[intent["name"]] = True
            elif intent.get("name") == "emergency_crisis":
                delta.flags["emergency"] = delta.flags["crisis"] = True
            for topic in topics_of(parse):
                if topic and topic not in NOT_TOPICS and not text.startswith("/"):
                    daily[(day, "topic", topic[:128])] += 1
        elif row.type_name == "action" and data.get("name") in URGENT_REPLIES:
            # "yes" to the triage question gets the emergency reply: the flag is the reply.
            delta.flags[URGENT_REPLIES[data["name"]]] = True
        elif row.type_name == "slot":
            name, value = data.get("name"), data.get("value")
            if name == "safety_flag" and value in ("emergency", "crisis"):  # older conversations
                delta.flags[value] = True
            elif name == "callback_requested" and value:
                delta.flags["callback"] = True
            elif name == "booking_reference" and value:
                delta.flags["booking"] = True
            elif name == "specialist_ids" and value:
                delta.flags["cards_shown"] = True
    return deltas


def update_summaries(
    engine: sa.engine.Engine, batch: int = 5000, max_batches: int | None = None
) -> int:
    """Fold new events (all of them, or at most ``max_batches`` batches); returns how many.

    Several processes may run it at once (website, a scheduled ``python -m console.indexer``):
    each batch first claims the state row with a write, which serialises the folds on SQLite
    (the write lock) and PostgreSQL (the row lock), then re-reads the position under that claim.
    """
    if not events_exist(engine):
        return 0  # Rasa has not stored any conversation yet (it creates the table)
    total, batches = 0, 0
    with _LOCK:
        while max_batches is None or batches < max_batches:
            read = _fold_next(engine, batch)
            if not read:
                break
            total += read
            batches += 1
    return total


def backlog(engine: sa.engine.Engine) -> int:
    """Events not folded yet (the console says so when a page shows older numbers)."""
    if not events_exist(engine):
        return 0
    state = IndexerState.__table__
    with engine.connect() as conn:
        last = conn.execute(
            sa.select(state.c.last_event_id).where(state.c.name == STATE)
        ).scalar_one_or_none()
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(EVENTS).where(EVENTS.c.id > (last or 0))
            ).scalar_one()
        )


def _fold_next(engine: sa.engine.Engine, batch: int) -> int:
    table, state = ConversationSummary.__table__, IndexerState.__table__
    with engine.begin() as conn:
        claimed = conn.execute(  # a no-op write: takes the lock before anything is read
            sa.update(state)
            .where(state.c.name == STATE)
            .values(last_event_id=state.c.last_event_id)
        ).rowcount
        if not claimed:
            conn.execute(sa.insert(state).values(name=STATE, last_event_id=0))
        last = conn.execute(
            sa.select(state.c.last_event_id).where(state.c.name == STATE)
        ).scalar_one()
        rows = conn.execute(
            sa.select(EVENTS).where(EVENTS.c.id > last).order_by(EVENTS.c.id).limit(batch)
        ).all()
        rows = settled(rows, last, time.monotonic(), _GAPS)
        if not rows:
            return 0
        daily: Counter = Counter()
        deltas = fold(rows, daily)
        existing = {
            r.sender_id: r
            for chunk in _chunks(list(deltas), 500)
            for r in conn.execute(sa.select(table).where(table.c.sender_id.in_(chunk)))
        }
        for sender, delta in deltas.items():
            old = existing.get(sender)
            values = _merge(old, delta)
            if old is None:
                conn.execute(
                    sa.insert(table).values(
                        sender_id=sender,
                        conversation_key=new_conversation_key(),
                        reviewed=False,
                        **values,
                    )
                )
            else:
                conn.execute(sa.update(table).where(table.c.sender_id == sender).values(**values))
        _add_daily(conn, daily)
        conn.execute(
            sa.update(state).where(state.c.name == STATE).values(last_event_id=rows[-1].id)
        )
        return len(rows)


def settled(
    rows: Sequence[Any], last: int, now: float, first_seen: Dict[int, float], wait: float = SETTLE
) -> Sequence[Any]:
    """The rows up to the first gap in the ids that may still fill.

    On PostgreSQL, ids are handed out before commit, so with two Rasa servers writing, event 101
    can be visible before event 100 is. Skipping past such a gap would lose 100 forever. A gap is
    passed once this indexer has seen it for ``wait`` seconds (a rolled-back insert): timed from
    when it was first seen here (``first_seen``: missing id → monotonic time), never from the
    events' own timestamps, which another server's clock or a slow action can put far back.
    """
    previous = last
    for index, row in enumerate(rows):
        if row.id != previous + 1:
            seen = first_seen.setdefault(previous + 1, now)
            if now - seen < wait:
                return rows[:index]
            first_seen.pop(previous + 1, None)
        previous = row.id
    return rows


def _add_daily(conn: sa.engine.Connection, daily: Counter) -> None:
    table = DailyCount.__table__
    days = sorted({day for day, _, _ in daily})
    existing = {
        (r.day, r.metric, r.key)
        for chunk in _chunks(days, 200)
        for r in conn.execute(
            sa.select(table.c.day, table.c.metric, table.c.key).where(table.c.day.in_(chunk))
        )
    }
    for (day, metric, key), count in daily.items():
        if (day, metric, key) in existing:
            conn.execute(
                sa.update(table)
                .where(table.c.day == day, table.c.metric == metric, table.c.key == key)
                .values(count=table.c.count + count)
            )
        else:
            conn.execute(sa.insert(table).values(day=day, metric=metric, key=key, count=count))


def _merge(old: Any, delta: Delta) -> Dict[str, Any]:
    flags = {flag: bool(delta.flags.get(flag)) for flag in SUMMARY_FLAGS}
    if old is None:
        return {
            "started_at": delta.started_at,
            "last_at": delta.last_at,
            "channel": delta.channel,
            "turns": delta.turns,
            "fallback_count": delta.fallback_count,
            "low_confidence_count": delta.low_confidence_count,
            **flags,
        }
    return {
        "started_at": min(old.started_at, delta.started_at),
        "last_at": max(old.last_at, delta.last_at),
        "channel": old.channel or delta.channel,
        "turns": old.turns + delta.turns,
        "fallback_count": old.fallback_count + delta.fallback_count,
        "low_confidence_count": old.low_confidence_count + delta.low_confidence_count,
        **{flag: bool(getattr(old, flag)) or value for flag, value in flags.items()},
    }


def _chunks(items: List[str], size: int) -> List[List[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass(frozen=True)
class Filters:
    flag: str | None = None
    channel: str | None = None
    reviewed: bool | None = None
    started_from: float | None = None
    started_to: float | None = None
    text: str | None = None


# A text search seen masked checks each candidate's masked text: at most this many, newest first.
MASKED_SEARCH_LIMIT = 2000


def list_conversations(
    engine: sa.engine.Engine,
    filters: Filters,
    page: int = 1,
    per_page: int = 50,
    visible: Callable[[List[str], str], Set[str]] | None = None,
) -> Tuple[List[Dict[str, Any]], int]:
    """One page of conversations (newest first) and the number matching. With ``visible``, a
    text search keeps only the conversations where ``visible`` still finds the text once the
    messages are masked: a search for a hidden name must not say who wrote it."""
    table = ConversationSummary.__table__
    where: List[Any] = []
    if filters.flag in ("emergency", "crisis", "urgent", "callback", "booking"):
        where.append(table.c[filters.flag].is_(True))
    elif filters.flag == "fallback":
        where.append(table.c.fallback_count > 0)
    elif filters.flag == "low_confidence":
        where.append(table.c.low_confidence_count > 0)
    elif filters.flag == "undelivered":
        where.append(table.c.sender_id.in_(_undelivered_to()))
    if filters.channel:
        where.append(table.c.channel == filters.channel)
    if filters.reviewed is not None:
        where.append(table.c.reviewed.is_(filters.reviewed))
    if filters.started_from is not None:
        where.append(table.c.started_at >= filters.started_from)
    if filters.started_to is not None:
        where.append(table.c.started_at < filters.started_to)
    if filters.text and events_exist(engine):
        matching = sa.select(EVENTS.c.sender_id).where(
            EVENTS.c.type_name == "user", EVENTS.c.data.contains(filters.text, autoescape=True)
        )
        where.append(table.c.sender_id.in_(matching))
        if visible is not None:
            with engine.connect() as conn:
                candidates = list(
                    conn.execute(
                        sa.select(table.c.sender_id)
                        .where(*where)
                        .order_by(table.c.started_at.desc(), table.c.sender_id)
                        .limit(MASKED_SEARCH_LIMIT)
                    ).scalars()
                )
            kept = visible(candidates, filters.text)
            where.append(table.c.sender_id.in_([s for s in candidates if s in kept]))
    page = max(1, page)
    with engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(*where)
        ).scalar_one()
        rows = conn.execute(
            sa.select(table)
            .where(*where)
            .order_by(table.c.started_at.desc(), table.c.sender_id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        found = [dict(r._mapping) for r in rows]
        senders = [row["sender_id"] for row in found]
        undelivered = set(
            conn.execute(_undelivered_to().where(OUTBOX.c.recipient.in_(senders))).scalars()
        )
    for row in found:
        row["undelivered"] = row["sender_id"] in undelivered
    return found, int(total)


def _undelivered_to() -> Any:
    """The WhatsApp conversations (a WhatsApp conversation's id is the patient's number) with a
    reply that was given up on."""
    return sa.select(OUTBOX.c.recipient).where(OUTBOX.c.status == "failed").distinct()


if __name__ == "__main__":  # pragma: no cover
    from spine_db.config import database_url

    logging.basicConfig(level=logging.INFO)
    read = update_summaries(sa.create_engine(database_url(), future=True))
    logger.info("indexed %d events", read)
