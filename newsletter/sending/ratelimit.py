"""How fast messages may leave: one limiter shared by every connection and thread of a send.

Two limits, each optional, and a message goes only when both allow it.

Per second: a token bucket holding at most `burst` tokens (default 1), refilled at
`per_second` tokens a second; a message takes one token. Guarantee: in any half-open span of
T seconds, fewer than `max(burst, n_max) + per_second * T` messages are granted, where n_max
is the largest single request. With the default burst and one message per request, that is
at most ceil(per_second * T): never more than `per_second` messages in any one-second window
(ceil(per_second) when the rate is fractional, the least any schedule averaging that rate can
manage). A larger burst lets senders catch up after a pause, at the price of that bound.

Requests larger than the bucket borrow: `acquire(n)` with n > burst waits until the bucket
is full, goes at once, and leaves the bucket n - burst tokens in debt, so later requests wait
until the average rate is restored. An HTTP API that takes 500 recipients in one call thus
sends 500 at once and then nothing for 500 / per_second seconds.

Per hour: a sliding window. Guarantee: no half-open span of 3600 seconds contains more than
`per_hour` granted messages. Grants less than a second apart are remembered together, as if
all were made at the latest of them; that keeps the memory to about 3600 entries and can
only delay a message (by at most a second), never let one through early.

Requests are served one at a time in roughly arrival order (a waiting request holds the
turn while it sleeps), so a large batch waiting for a full bucket is not starved by small
ones. The clock is read, and the grant recorded, at the moment a request is let through.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from newsletter.core.settings import Settings

HOUR = 3600.0
# Grants within this many seconds share one entry in the hourly record.
_GRAIN = 1.0


def _slack(now: float) -> float:
    """A few units in the last place of `now`, and at least a nanosecond.

    Each grant pushes the schedule back by this much, so floating-point rounding can never
    let a message through a hair early, and each sleep is this much longer than computed,
    so clock + wait cannot round to just short of the goal and loop.
    """
    return 1e-9 + abs(now) * 1e-14


def checked_limits(
    per_second: float, per_hour: int | None, burst: float | None
) -> tuple[float, int | None, float]:
    """(per second, per hour or None, burst) as a limiter keeps them; ValueError naming a bad
    one. Every limiter's constructor (here and in shared_rate.py) checks its limits so."""
    if isinstance(per_second, bool) or not isinstance(per_second, int | float):
        raise ValueError(f"per_second must be a number, not {per_second!r}")
    if not math.isfinite(per_second) or per_second < 0:
        raise ValueError(
            f"per_second must be a finite number of messages >= 0 (0 = no limit), "
            f"not {per_second!r}"
        )
    if per_hour is not None and (
        isinstance(per_hour, bool) or not isinstance(per_hour, int) or per_hour < 0
    ):
        raise ValueError(
            f"per_hour must be a whole number of messages >= 0 or None (no cap), not {per_hour!r}"
        )
    if burst is not None:
        if per_second == 0:
            raise ValueError("burst needs a per-second rate; per_second is 0 (no limit)")
        if (
            isinstance(burst, bool)
            or not isinstance(burst, int | float)
            or not math.isfinite(burst)
            or burst < 1
        ):
            raise ValueError(f"burst must be a finite number of messages >= 1, not {burst!r}")
    return float(per_second), per_hour or None, float(burst) if burst is not None else 1.0


def check_count(n: int, per_hour: int | None) -> None:
    """ValueError unless `n` is a message count a limiter with that hourly cap can grant."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"message count must be a whole number >= 0, not {n!r}")
    if per_hour is not None and n > per_hour:
        raise ValueError(f"cannot send {n} messages at once: the hourly limit is {per_hour}")


@dataclass
class _Span:
    """Messages granted within one grain; all expire as if granted at the last of them."""

    opened: float
    expires: float
    count: int


class RateLimit(Protocol):
    """What a runner needs of a rate limit: this process's RateLimiter, or the one the
    sending workers share (newsletter.sending.shared_rate.SharedRateLimiter)."""

    @property
    def per_second(self) -> float: ...

    @property
    def unlimited(self) -> bool: ...

    def acquire(self, n: int = 1) -> None: ...

    def would_wait(self, n: int = 1) -> float: ...


class RateLimiter:
    """Blocks senders so the per-second rate and the hourly cap are never exceeded."""

    def __init__(
        self,
        per_second: float,
        per_hour: int | None = None,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`per_second` 0 and `per_hour` None or 0 mean no limit of that kind.

        `sleep(seconds)` must sleep at least that long, as the default does; it may raise to
        abandon a wait (nothing is granted then). `clock` must never go backwards.
        """
        self._rate, self._hourly, self._burst = checked_limits(per_second, per_hour, burst)
        self._clock = clock
        self._sleep = sleep
        # Held by the request at the head of the queue, sleep included.
        self._turn = threading.Lock()
        # Guards the fields below; never held while sleeping.
        self._state = threading.Lock()
        # When the bucket is full again; earlier than now means it is full already.
        self._full_at = -math.inf
        self._spans: deque[_Span] = deque()
        self._in_spans = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        """The limiter for NEWSLETTER_RATE_LIMIT and NEWSLETTER_HOURLY_LIMIT."""
        return cls(settings.rate_limit, settings.hourly_limit)

    @property
    def per_second(self) -> float:
        return self._rate

    @property
    def per_hour(self) -> int | None:
        return self._hourly

    @property
    def burst(self) -> float:
        return self._burst

    @property
    def unlimited(self) -> bool:
        return not self._rate and not self._hourly

    def acquire(self, n: int = 1) -> None:
        """Wait until `n` messages may go, then count them as sent now."""
        self._check(n)
        if n == 0 or self.unlimited:
            return
        with self._turn:
            while True:
                with self._state:
                    now = self._clock()
                    wait = self._wait(n, now)
                    if wait <= 0:
                        self._grant(n, now)
                        return
                self._sleep(wait + _slack(now))

    def would_wait(self, n: int = 1) -> float:
        """Seconds until `n` messages could go, if nothing else is granted meanwhile; 0.0 if
        they could go now. Changes nothing."""
        self._check(n)
        if n == 0 or self.unlimited:
            return 0.0
        with self._state:
            return max(0.0, self._wait(n, self._clock()))

    def _check(self, n: int) -> None:
        check_count(n, self._hourly)

    def _wait(self, n: int, now: float) -> float:
        """Seconds from `now` until both limits allow `n` more; <= 0 means now. Pure."""
        wait = -math.inf
        if self._rate:
            # Borrowing: a request bigger than the bucket needs only a full bucket.
            needed = min(float(n), self._burst)
            wait = self._full_at - (self._burst - needed) / self._rate - now
        if self._hourly is not None:
            excess = self._in_spans + n - self._hourly
            for span in self._spans:
                if excess <= 0:
                    break
                excess -= span.count
                wait = max(wait, span.expires - now)
        return wait

    def _grant(self, n: int, now: float) -> None:
        if self._rate:
            self._full_at = max(self._full_at, now) + n / self._rate + _slack(now)
        if self._hourly is not None:
            spans = self._spans
            while spans and spans[0].expires <= now:
                self._in_spans -= spans.popleft().count
            expires = now + HOUR + _slack(now)
            if spans and now - spans[-1].opened < _GRAIN:
                spans[-1].count += n
                spans[-1].expires = expires
            else:
                spans.append(_Span(opened=now, expires=expires, count=n))
            self._in_spans += n
