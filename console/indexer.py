"""Folds Rasa's ``events`` into ``conversation_summaries`` (one row per conversation, indexed
flags), incrementally: each run reads only the events after the last one it saw.

The console calls it before listing; it can also run on a schedule
(``python -m console.indexer``). Safe to run concurrently with Rasa writing events.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

import sqlalchemy as sa

from spine_db.models import ConversationSummary, IndexerState

logger = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.5
STATE = "conversation_summaries"
EVENTS = sa.table(
    "events",
    sa.column("id", sa.Integer),
    sa.column("sender_id", sa.String),
    sa.column("type_name", sa.String),
    sa.column("timestamp", sa.Float),
    sa.column("intent_name", sa.String),
    sa.column("data", sa.Text),
)
FLAGS = ("emergency", "crisis", "callback", "booking", "fallback", "low_confidence")


@dataclass
class Delta:
    started_at: float
    last_at: float
    channel: str | None = None
    turns: int = 0
    fallback_count: int = 0
    low_confidence_count: int = 0
    flags: Dict[str, bool] = field(default_factory=dict)


_WITH_EVENTS: set = set()


def events_exist(engine: sa.engine.Engine) -> bool:
    """Whether Rasa has created its ``events`` table yet (asked until it has, then remembered)."""
    key = str(engine.url)
    if key not in _WITH_EVENTS and sa.inspect(engine).has_table("events"):
        _WITH_EVENTS.add(key)
    return key in _WITH_EVENTS


def conversation_key(sender_id: str) -> str:
    """The opaque handle of a conversation in console URLs."""
    return hashlib.sha256(sender_id.encode()).hexdigest()[:24]


def sender_for_key(engine: sa.engine.Engine, key: str) -> str | None:
    table = ConversationSummary.__table__
    with engine.connect() as conn:
        return conn.execute(
            sa.select(table.c.sender_id).where(table.c.conversation_key == key)
        ).scalar_one_or_none()


def fold(rows: Sequence[Any]) -> Dict[str, Delta]:
    """What a batch of event rows adds to each conversation's summary (pure)."""
    deltas: Dict[str, Delta] = {}
    for row in rows:
        delta = deltas.setdefault(row.sender_id, Delta(row.timestamp, row.timestamp))
        delta.started_at = min(delta.started_at, row.timestamp)
        delta.last_at = max(delta.last_at, row.timestamp)
        try:
            data = json.loads(row.data or "{}")
        except ValueError:
            continue
        if row.type_name == "user":
            delta.turns += 1
            delta.channel = data.get("input_channel") or delta.channel
            intent = (data.get("parse_data") or {}).get("intent") or {}
            if (row.intent_name or intent.get("name")) == "nlu_fallback":
                delta.fallback_count += 1
            elif intent.get("confidence") is not None and intent["confidence"] < LOW_CONFIDENCE:
                delta.low_confidence_count += 1
        elif row.type_name == "slot":
            name, value = data.get("name"), data.get("value")
            if name == "safety_flag" and value in ("emergency", "crisis"):
                delta.flags[value] = True
            elif name == "callback_requested" and value:
                delta.flags["callback"] = True
            elif name == "booking_reference" and value:
                delta.flags["booking"] = True
    return deltas


def update_summaries(engine: sa.engine.Engine, batch: int = 5000) -> int:
    """Process all new events; returns how many were read."""
    table, state = ConversationSummary.__table__, IndexerState.__table__
    if not events_exist(engine):
        return 0  # Rasa has not stored any conversation yet (it creates the table)
    total = 0
    while True:
        with engine.begin() as conn:
            last = conn.execute(
                sa.select(state.c.last_event_id).where(state.c.name == STATE)
            ).scalar_one_or_none()
            rows = conn.execute(
                sa.select(EVENTS)
                .where(EVENTS.c.id > (last or 0))
                .order_by(EVENTS.c.id)
                .limit(batch)
            ).all()
            if not rows:
                return total
            deltas = fold(rows)
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
                            conversation_key=conversation_key(sender),
                            reviewed=False,
                            **values,
                        )
                    )
                else:
                    conn.execute(
                        sa.update(table).where(table.c.sender_id == sender).values(**values)
                    )
            new_last = rows[-1].id
            if last is None:
                conn.execute(sa.insert(state).values(name=STATE, last_event_id=new_last))
            else:
                conn.execute(
                    sa.update(state).where(state.c.name == STATE).values(last_event_id=new_last)
                )
            total += len(rows)


def _merge(old: Any, delta: Delta) -> Dict[str, Any]:
    flags = {
        flag: bool(delta.flags.get(flag)) for flag in ("emergency", "crisis", "callback", "booking")
    }
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


def list_conversations(
    engine: sa.engine.Engine, filters: Filters, page: int = 1, per_page: int = 50
) -> Tuple[List[Dict[str, Any]], int]:
    """One page of conversations (newest first) and the number matching."""
    table = ConversationSummary.__table__
    where: List[Any] = []
    if filters.flag in ("emergency", "crisis", "callback", "booking"):
        where.append(table.c[filters.flag].is_(True))
    elif filters.flag == "fallback":
        where.append(table.c.fallback_count > 0)
    elif filters.flag == "low_confidence":
        where.append(table.c.low_confidence_count > 0)
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
    return [dict(r._mapping) for r in rows], int(total)


if __name__ == "__main__":  # pragma: no cover
    from spine_db.config import database_url

    logging.basicConfig(level=logging.INFO)
    read = update_summaries(sa.create_engine(database_url(), future=True))
    logger.info("indexed %d events", read)
