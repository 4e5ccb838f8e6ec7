"""Login rate limiting: at most N failed attempts per key within a sliding window."""
from __future__ import annotations

import time
from collections import defaultdict, deque
from typing import Callable, Deque, Dict

PRUNE_AT = 1000  # keys held before stale ones are forgotten


class FailureLimiter:
    def __init__(
        self,
        attempts: int = 5,
        window_seconds: float = 900,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts = attempts
        self.window = window_seconds
        self.clock = clock
        self._failures: Dict[str, Deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> Deque[float]:
        failures = self._failures[key]
        while failures and self.clock() - failures[0] > self.window:
            failures.popleft()
        return failures

    def _prune(self) -> None:
        """Forget keys whose failures are all older than the window: addresses and usernames
        that tried once would otherwise stay in memory for the life of the process."""
        now = self.clock()
        for key in [k for k, f in self._failures.items() if not f or now - f[-1] > self.window]:
            del self._failures[key]

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= self.attempts for k in keys if k in self._failures)

    def failed(self, *keys: str) -> None:
        if len(self._failures) >= PRUNE_AT:
            self._prune()
        for key in keys:
            self._recent(key).append(self.clock())

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)
