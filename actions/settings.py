"""Action-server settings, from environment variables only (no secrets in the repo)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from typing import FrozenSet
from zoneinfo import ZoneInfo

from spine_db.config import support_timezone_name

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class SupportHours:
    """When the support team calls back, e.g. ``Mon-Sat 09:00-18:00`` in ``Asia/Kolkata``."""

    days: FrozenSet[int]
    opens: time
    closes: time
    timezone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, timezone: str = "Asia/Kolkata") -> SupportHours:
        match = re.fullmatch(
            r"\s*(\w{3})(?:-(\w{3}))?\s+(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})\s*", spec or ""
        )
        if not match or match.group(1).title() not in DAYS:
            raise ValueError(f"SUPPORT_HOURS must look like 'Mon-Sat 09:00-18:00', not {spec!r}")
        first = DAYS.index(match.group(1).title())
        last = DAYS.index((match.group(2) or match.group(1)).title())
        days = (
            frozenset(range(first, last + 1))
            if first <= last
            else frozenset([*range(first, 7), *range(0, last + 1)])
        )
        opens = time(int(match.group(3)), int(match.group(4)))
        closes = time(int(match.group(5)), int(match.group(6)))
        if closes <= opens:
            raise ValueError(f"SUPPORT_HOURS closes before it opens: {spec!r}")
        return cls(days, opens, closes, ZoneInfo(timezone))

    def describe(self) -> str:
        ordered = sorted(self.days)
        span = (
            DAY_NAMES[ordered[0]]
            if len(ordered) == 1
            else f"{DAY_NAMES[ordered[0]]} to {DAY_NAMES[ordered[-1]]}"
        )
        return f"{span}, {self.opens:%H:%M}–{self.closes:%H:%M} ({self._zone_label()})"

    def _zone_label(self) -> str:
        return "IST" if self.timezone.key == "Asia/Kolkata" else self.timezone.key

    def when_we_call(self, now: datetime) -> str:
        """ "today before 18:00", "tomorrow from 09:00" or "on Monday from 09:00"."""
        local = now.astimezone(self.timezone)
        if local.weekday() in self.days and local.time() < self.closes:
            if local.time() >= self.opens:
                return f"today before {self.closes:%H:%M}"
            return f"today from {self.opens:%H:%M}"
        for ahead in range(1, 8):
            day = local + timedelta(days=ahead)
            if day.weekday() in self.days:
                label = "tomorrow" if ahead == 1 else f"on {DAY_NAMES[day.weekday()]}"
                return f"{label} from {self.opens:%H:%M}"
        return "as soon as possible"  # pragma: no cover - days is never empty


@dataclass(frozen=True)
class Settings:
    support_hours: SupportHours
    booking_max_days: int
    max_invalid_answers: int

    @property
    def timezone(self) -> ZoneInfo:
        return self.support_hours.timezone


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@cache
def settings() -> Settings:
    """Read once per process. SUPPORT_HOURS, SUPPORT_TIMEZONE, BOOKING_MAX_DAYS,
    MAX_INVALID_ANSWERS (the database URL is read by spine_db.config)."""
    return Settings(
        support_hours=SupportHours.parse(
            os.environ.get("SUPPORT_HOURS", "Mon-Sat 09:00-18:00"),
            support_timezone_name(),
        ),
        booking_max_days=_int("BOOKING_MAX_DAYS", 60),
        max_invalid_answers=_int("MAX_INVALID_ANSWERS", 3),
    )


def local_now(tz: ZoneInfo) -> datetime:
    return datetime.now(tz)
