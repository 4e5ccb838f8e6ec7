"""The metrics page's numbers: per day over a window (the clinic's days), from the conversation
summaries, the indexer's daily counts and the bookings/call-backs tables."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Dict, List, Tuple

import sqlalchemy as sa

from console.indexer import LOCAL_TZ, local_day
from spine_content.topics import topic_titles
from spine_db.models import Booking, Callback, ConversationSummary, DailyCount


@dataclass
class Metrics:
    days: List[str]  # YYYY-MM-DD, oldest first
    conversations: List[int]
    messages: List[int]
    fallbacks: List[int]
    bookings: List[int]
    callbacks: List[int]
    emergencies: int
    crises: int
    top_topics: List[Tuple[str, int]]
    cards_conversations: int
    cards_booked: int

    @staticmethod
    def rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def fallback_rate(self) -> float | None:
        return self.rate(sum(self.fallbacks), sum(self.messages))

    @property
    def conversion(self) -> float | None:
        return self.rate(self.cards_booked, self.cards_conversations)


def window(days: int, today: date | None = None) -> List[str]:
    last = today or datetime.now(LOCAL_TZ).date()
    return [(last - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def compute(
    engine: sa.engine.Engine, days: int = 30, today: date | None = None, top: int = 10
) -> Metrics:
    labels = window(days, today)
    first = datetime.strptime(labels[0], "%Y-%m-%d").replace(tzinfo=LOCAL_TZ)
    since = first.timestamp()
    index = {day: i for i, day in enumerate(labels)}

    def per_day() -> List[int]:
        return [0] * len(labels)

    conversations, messages, fallbacks, bookings, callbacks = (per_day() for _ in range(5))
    emergencies = crises = cards = booked = 0
    topics: Counter = Counter()
    summaries, daily = ConversationSummary.__table__, DailyCount.__table__
    with engine.connect() as conn:
        for row in conn.execute(
            sa.select(
                summaries.c.started_at,
                summaries.c.emergency,
                summaries.c.crisis,
                summaries.c.cards_shown,
                summaries.c.booking,
            ).where(summaries.c.started_at >= since)
        ):
            slot = index.get(local_day(row.started_at))
            if slot is None:
                continue  # after the window (clock skew)
            conversations[slot] += 1
            emergencies += bool(row.emergency)
            crises += bool(row.crisis)
            if row.cards_shown:
                cards += 1
                booked += bool(row.booking)
        for row in conn.execute(sa.select(daily).where(daily.c.day >= labels[0])):
            slot = index.get(row.day)
            if slot is None:
                continue
            if row.metric == "messages":
                messages[slot] += row.count
            elif row.metric == "fallback":
                fallbacks[slot] += row.count
            elif row.metric == "topic":
                topics[row.key] += row.count
        for table, series in ((Booking.__table__, bookings), (Callback.__table__, callbacks)):
            for (created,) in conn.execute(
                sa.select(table.c.created_at).where(
                    table.c.created_at >= first.astimezone(timezone.utc)
                )
            ):
                slot = index.get(_utc(created).astimezone(LOCAL_TZ).date().isoformat())
                if slot is not None:
                    series[slot] += 1
    titles = topic_titles()
    return Metrics(
        days=labels,
        conversations=conversations,
        messages=messages,
        fallbacks=fallbacks,
        bookings=bookings,
        callbacks=callbacks,
        emergencies=emergencies,
        crises=crises,
        top_topics=[(_topic_label(k, titles), n) for k, n in topics.most_common(top)],
        cards_conversations=cards,
        cards_booked=booked,
    )


def _topic_label(key: str, titles: Dict[str, str]) -> str:
    return f"{titles[key]} ({key})" if key in titles else key.replace("_", " ")
