from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from newsletter.core.settings import Settings
from newsletter.sending.ratelimit import HOUR, RateLimiter


class FakeClock:
    """Time that moves only when someone sleeps or the test advances it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limiter(
    clock: FakeClock, per_second: float, per_hour: int | None = None, **kw: float
) -> RateLimiter:
    return RateLimiter(per_second, per_hour, clock=clock, sleep=clock.sleep, **kw)


def most_in_window(grants: Sequence[tuple[float, int]], width: float) -> int:
    """The most messages in any half-open window [t, t + width) of the (time, count) grants."""
    most = 0
    total = 0
    end = 0
    for start, _ in enumerate(grants):
        # A window starting at a grant is as full as any window can be.
        while end < len(grants) and grants[end][0] < grants[start][0] + width:
            total += grants[end][1]
            end += 1
        most = max(most, total)
        total -= grants[start][1]
    return most


def run(
    lim: RateLimiter, clock: FakeClock, requests: Sequence[tuple[float, int]]
) -> list[tuple[float, int]]:
    """Idle for each request's gap, then acquire its count; the grant times, as sent."""
    grants = []
    for gap, n in requests:
        clock.advance(gap)
        lim.acquire(n)
        grants.append((clock(), n))
    return grants


@pytest.mark.parametrize("rate", [1, 10, 200, 1000])
def test_back_to_back_sending_never_exceeds_the_rate_in_any_second(rate: int) -> None:
    clock = FakeClock()
    count = min(20 * rate, 20_000)
    start = clock()

    grants = run(limiter(clock, rate), clock, [(0.0, 1)] * count)

    assert most_in_window(grants, 1.0) == rate
    # ...while still sending at the full rate.
    assert clock() - start == pytest.approx((count - 1) / rate, rel=1e-3)


@pytest.mark.parametrize(("rate", "burst"), [(10, None), (50, 5.0), (3.5, None), (0.5, 2.0)])
def test_random_traffic_stays_within_the_documented_bound(rate: float, burst: float | None) -> None:
    rng = random.Random(rate)
    clock = FakeClock()
    lim = RateLimiter(rate, burst=burst, clock=clock, sleep=clock.sleep)
    requests = [
        (
            rng.choice([0.0, 0.0, 0.0, rng.random() / rate, rng.random() * 5 / rate]),
            rng.randint(1, 3),
        )
        for _ in range(5000)
    ]

    grants = run(lim, clock, requests)

    largest = max(lim.burst, 3)
    for width in (0.25, 1.0, 2.0, 7.3, 60.0):
        # Fewer than max(burst, largest request) + rate * T in any T seconds.
        assert most_in_window(grants, width) <= math.ceil(largest + rate * width) - 1


def test_fractional_rate_sends_at_most_its_ceiling_per_second() -> None:
    clock = FakeClock()

    grants = run(limiter(clock, 2.5), clock, [(0.0, 1)] * 1000)

    assert most_in_window(grants, 1.0) == 3
    assert most_in_window(grants, 2.0) == 5
    assert most_in_window(grants, 4.0) == 10


def test_a_full_bucket_sends_a_burst_at_once_then_paces() -> None:
    clock = FakeClock()
    lim = limiter(clock, 10, burst=10)
    start = clock()

    grants = run(lim, clock, [(0.0, 1)] * 10)
    # At once, give or take the nanoseconds of slack each grant adds against rounding.
    assert clock() - start < 1e-6

    assert lim.would_wait() == pytest.approx(0.1, abs=1e-5)
    grants += run(lim, clock, [(0.0, 1)] * 200)
    assert most_in_window(grants, 1.0) == 19


def test_a_request_bigger_than_the_bucket_borrows() -> None:
    clock = FakeClock()
    lim = limiter(clock, 10)

    lim.acquire(50)
    assert not clock.slept
    # The debt of 49 messages (plus the message that took the last token) is paid first.
    assert lim.would_wait(1) == pytest.approx(5.0, abs=1e-4)
    assert lim.would_wait(50) == pytest.approx(5.0, abs=1e-4)

    clock.advance(1.0)
    lim.acquire(1)
    assert clock.slept == [pytest.approx(4.0, abs=1e-4)]


def test_hourly_cap_holds_in_every_sliding_hour() -> None:
    rng = random.Random(3600)
    clock = FakeClock()
    lim = limiter(clock, 0, per_hour=100)
    requests = [(rng.choice([0.0, 0.0, 1.0, 30.0, 600.0]), rng.randint(1, 7)) for _ in range(3000)]

    grants = run(lim, clock, requests)

    assert most_in_window(grants, HOUR) <= 100
    assert clock() - grants[0][0] > 10 * HOUR


def test_hourly_cap_resumes_as_soon_as_the_oldest_messages_leave_the_window() -> None:
    clock = FakeClock()
    lim = limiter(clock, 0, per_hour=100)
    start = clock()

    run(lim, clock, [(0.0, 1)] * 60 + [(1800.0, 1)] + [(0.0, 1)] * 39)
    assert not clock.slept
    assert lim.would_wait(1) == pytest.approx(1800.0, abs=1e-3)
    # The 40 from half an hour later are still in the window.
    assert lim.would_wait(61) == pytest.approx(3600.0, abs=1e-3)

    lim.acquire(60)
    assert clock() - start == pytest.approx(HOUR, abs=1e-3)


def test_per_second_and_hourly_limits_together() -> None:
    rng = random.Random(42)
    clock = FakeClock()
    lim = limiter(clock, 0.5, per_hour=1000)
    requests = [(rng.choice([0.0, 0.0, 3.0, 120.0]), 1) for _ in range(4000)]

    grants = run(lim, clock, requests)

    assert most_in_window(grants, 1.0) <= 1
    assert most_in_window(grants, 10.0) <= 5
    assert most_in_window(grants, HOUR) <= 1000


@pytest.mark.parametrize("per_hour", [None, 0])
def test_zero_means_unlimited(per_hour: int | None) -> None:
    def no_sleep(seconds: float) -> None:
        raise AssertionError("an unlimited limiter slept")

    lim = RateLimiter(0, per_hour, clock=lambda: 0.0, sleep=no_sleep)

    for _ in range(10_000):
        lim.acquire()
    lim.acquire(1_000_000)
    assert lim.unlimited
    assert lim.would_wait(1_000_000) == 0.0


def test_would_wait_changes_nothing() -> None:
    rng = random.Random(7)
    requests = [(rng.choice([0.0, 0.01, 0.3]), rng.randint(1, 4)) for _ in range(2000)]
    plain_clock, probed_clock = FakeClock(), FakeClock()
    plain = limiter(plain_clock, 20, per_hour=900, burst=3)
    probed = limiter(probed_clock, 20, per_hour=900, burst=3)

    plain_grants = run(plain, plain_clock, requests)
    probed_grants = []
    for gap, n in requests:
        probed_clock.advance(gap)
        predicted = [probed.would_wait(k) for k in (1, n, 9, 900) for _ in range(3)]
        slept_before = len(probed_clock.slept)
        probed.acquire(n)
        assert sum(probed_clock.slept[slept_before:]) == pytest.approx(predicted[3], abs=1e-5)
        probed_grants.append((probed_clock(), n))

    assert probed_grants == plain_grants


def test_a_grant_is_never_waited_for_when_no_wait_is_needed() -> None:
    # A caller that must stay responsive (the runner) asks would_wait first: at 0.0, acquire
    # does not sleep.
    clock = FakeClock()
    lim = limiter(clock, 4)

    assert lim.would_wait() == 0.0
    lim.acquire()
    wait = lim.would_wait()
    assert wait == pytest.approx(0.25, abs=1e-5)
    assert lim.would_wait() == pytest.approx(wait)
    clock.advance(wait + 1e-5)
    assert lim.would_wait() == 0.0
    lim.acquire()
    assert not clock.slept


def test_a_sleep_that_raises_abandons_the_wait_without_granting() -> None:
    class Stop(Exception):
        pass

    clock = FakeClock()

    def stopping_sleep(seconds: float) -> None:
        raise Stop

    lim = RateLimiter(1, clock=clock, sleep=stopping_sleep)
    lim.acquire()
    before = lim.would_wait()

    with pytest.raises(Stop):
        lim.acquire()
    assert lim.would_wait() == before


def test_threads_sharing_a_limiter_on_a_fake_clock() -> None:
    clock = FakeClock()
    lim = limiter(clock, 100)
    start = clock()
    counts = [0] * 8

    def send(index: int) -> None:
        for _ in range(200):
            lim.acquire()
            counts[index] += 1

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 1600
    # 1600 messages at 100/s with one token to start: 15.99 s, not a moment less.
    assert clock() - start == pytest.approx(15.99, abs=1e-3)


def test_threads_sharing_a_limiter_on_the_real_clock() -> None:
    rate = 200
    lim = RateLimiter(rate)
    sent = [0] * 8
    start = time.monotonic()
    stop_at = start + 1.0

    def send(index: int) -> None:
        while time.monotonic() < stop_at:
            lim.acquire()
            sent[index] += 1

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start

    # Every grant fell within [start, start + elapsed]: fewer than 1 + rate * elapsed.
    assert sum(sent) < 1 + rate * elapsed
    # Sleeping costs some throughput on a busy machine, but not most of it.
    assert sum(sent) > 0.5 * rate * elapsed
    assert min(sent) > 0


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        ((-1,), {}, "per_second must be a finite number of messages >= 0"),
        ((math.nan,), {}, "per_second must be a finite number"),
        ((math.inf,), {}, "per_second must be a finite number"),
        (("10",), {}, "per_second must be a number"),
        ((10, -5), {}, "per_hour must be a whole number of messages >= 0 or None"),
        ((10, 2.5), {}, "per_hour must be a whole number"),
        ((10,), {"burst": 0.5}, "burst must be a finite number of messages >= 1"),
        ((0,), {"burst": 5}, "burst needs a per-second rate"),
    ],
)
def test_invalid_arguments_are_rejected(
    args: tuple[object, ...], kwargs: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        RateLimiter(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [-1, 1.5, True])
def test_invalid_message_counts_are_rejected(n: object) -> None:
    lim = RateLimiter(10)
    for method in (lim.acquire, lim.would_wait):
        with pytest.raises(ValueError, match="message count must be a whole number >= 0"):
            method(n)  # type: ignore[arg-type]


def test_a_request_over_the_hourly_cap_can_never_go() -> None:
    lim = RateLimiter(0, 100)

    with pytest.raises(
        ValueError, match="cannot send 101 messages at once: the hourly limit is 100"
    ):
        lim.acquire(101)


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RateLimiter.from_settings(Settings()).unlimited

    monkeypatch.setenv("NEWSLETTER_RATE_LIMIT", "12.5")
    monkeypatch.setenv("NEWSLETTER_HOURLY_LIMIT", "50000")
    lim = RateLimiter.from_settings(Settings())
    assert (lim.per_second, lim.per_hour, lim.burst) == (12.5, 50000, 1.0)

    monkeypatch.setenv("NEWSLETTER_HOURLY_LIMIT", "")
    assert RateLimiter.from_settings(Settings()).per_hour is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NEWSLETTER_RATE_LIMIT", "-1"),
        ("NEWSLETTER_RATE_LIMIT", "inf"),
        ("NEWSLETTER_HOURLY_LIMIT", "-3"),
    ],
)
def test_invalid_settings_are_rejected(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError, match=name.removeprefix("NEWSLETTER_").lower()):
        Settings()
