"""A journal and a limiter that note how a transport calls them (newsletter.transports.base).

They stand in for the campaign runner's, which need a database; what is under test is
when the transport calls them, which these record, with an optional check run at the
moment of the call (e.g. that the server has not yet got the message).
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class RecordingJournal:
    def __init__(self, check: Callable[[int], None] | None = None) -> None:
        self.handed_over: list[int] = []
        # Handed over as final (an API request: sent once made).
        self.final: list[int] = []
        self.handed_over_keys: list[int] = []
        self.taken_back: list[int] = []
        self.check = check
        self.fail_for: set[int] = set()
        self._lock = threading.Lock()

    def point_of_no_return(self, *keys: int, final: bool = False) -> None:
        for key in keys:
            if key in self.fail_for:
                raise OSError("disk full")
            if self.check is not None:
                self.check(key)
        with self._lock:
            self.handed_over.extend(keys)
            if final:
                self.final.extend(keys)

    def handed_over(self, *keys: int) -> None:
        with self._lock:
            self.handed_over_keys.extend(keys)

    def not_accepted(self, *keys: int) -> None:
        with self._lock:
            self.taken_back.extend(keys)


class CountingLimiter:
    def __init__(self) -> None:
        self.requests: list[int] = []
        self._lock = threading.Lock()

    def acquire(self, n: int = 1) -> None:
        with self._lock:
            self.requests.append(n)
