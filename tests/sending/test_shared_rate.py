"""The shared rate limiter against the Redis on 127.0.0.1:6379 (database 15, a key per test).

The limiter keeps time by Redis's clock, so these tests run in real time: they measure
how long acquiring took, with margins for a loaded machine, and never sleep themselves.
"""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
import redis
from pydantic import ValidationError

from newsletter.core.errors import NewsletterError
from newsletter.core.settings import Settings, shared_redis_url
from newsletter.sending import shared_rate
from newsletter.sending.ratelimit import RateLimiter
from newsletter.sending.shared_rate import RateRedisError, SharedRateLimiter
from tests.transports.smtp_servers import free_port

REDIS = "redis://127.0.0.1:6379/15"

Make = Callable[..., SharedRateLimiter]


class Naps:
    """A sleep that really sleeps, and remembers how long it was asked to."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(seconds)


class Abandon(Exception):
    pass


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS)
    connection.ping()
    yield connection
    connection.close()


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    name = f"newsletter:rate:test-{uuid.uuid4().hex[:12]}"
    yield name
    for found in client.scan_iter(match=f"*{name}*"):
        client.delete(found)


@pytest.fixture
def make(key: str) -> Iterator[Make]:
    """Limiters on this test's key (unless told another), closed at the end."""
    made: list[SharedRateLimiter] = []

    def limiter(
        per_second: float, per_hour: int | None = None, **options: Any
    ) -> SharedRateLimiter:
        options.setdefault("url", REDIS)
        options.setdefault("key", key)
        made.append(SharedRateLimiter(per_second, per_hour, **options))
        return made[-1]

    yield limiter
    for limiter_made in made:
        limiter_made.close()


def most_in_window(stamps: Sequence[float], width: float) -> int:
    """The most grants in any half-open window [t, t + width) of the sorted `stamps`."""
    most = 0
    end = 0
    for start, opened in enumerate(stamps):
        while end < len(stamps) and stamps[end] < opened + width:
            end += 1
        most = max(most, end - start)
    return most


def acquire_timed(limiter: SharedRateLimiter, n: int = 1) -> float:
    began = time.monotonic()
    limiter.acquire(n)
    return time.monotonic() - began


@pytest.mark.parametrize(
    ("per_second", "per_hour", "burst"),
    [
        (-1, None, None),
        (math.inf, None, None),
        (math.nan, None, None),
        ("10", None, None),
        (True, None, None),
        (10, -1, None),
        (10, 2.5, None),
        (10, True, None),
        (0, None, 5),
        (10, None, 0.5),
        (10, None, math.inf),
    ],
)
def test_bad_limits_are_refused_as_the_local_limiter_refuses_them(
    per_second: Any, per_hour: Any, burst: Any
) -> None:
    with pytest.raises(ValueError) as local:
        RateLimiter(per_second, per_hour, burst=burst)
    with pytest.raises(ValueError) as shared:
        SharedRateLimiter(per_second, per_hour, burst=burst, url=REDIS, key="unused")
    assert str(shared.value) == str(local.value)


@pytest.mark.parametrize("n", [-1, 1.5, True, 11])
def test_bad_counts_are_refused_as_the_local_limiter_refuses_them(make: Make, n: Any) -> None:
    shared = make(5, 10)
    local = RateLimiter(5, 10)
    for ask in ("acquire", "would_wait"):
        with pytest.raises(ValueError) as expected:
            getattr(local, ask)(n)
        with pytest.raises(ValueError) as refused:
            getattr(shared, ask)(n)
        assert str(refused.value) == str(expected.value)


def test_a_key_and_a_redis_url_are_required() -> None:
    with pytest.raises(ValueError, match="key"):
        SharedRateLimiter(10, url=REDIS, key="")
    with pytest.raises(ValueError, match=r"not a Redis URL: amqp://guest:\*\*\*@127.0.0.1"):
        SharedRateLimiter(10, url="amqp://guest:guest@127.0.0.1:5672//", key="k")


def test_the_limits_read_back_as_the_local_limiter_reads_them(make: Make) -> None:
    cases: list[tuple[tuple[float, int | None], float | None]] = [
        ((12.5, 300), 4),
        ((0, 0), None),
        ((3, None), None),
    ]
    for args, burst in cases:
        shared, local = make(*args, burst=burst), RateLimiter(*args, burst=burst)
        assert (shared.per_second, shared.per_hour, shared.burst, shared.unlimited) == (
            local.per_second,
            local.per_hour,
            local.burst,
            local.unlimited,
        )


def test_no_limit_never_asks_redis() -> None:
    # Nothing listens there: any question to Redis would fail.
    limiter = SharedRateLimiter(0, 0, url=f"redis://127.0.0.1:{free_port()}/15", key="k")

    limiter.acquire(10_000)
    assert limiter.would_wait(10_000) == 0.0


def test_back_to_back_requests_go_at_the_rate(make: Make) -> None:
    limiter = make(20)

    elapsed = sum(acquire_timed(limiter) for _ in range(21))

    # The first at once, then one every 1/20 s: 21 grants span a full second, never less.
    assert 1.0 <= elapsed < 1.4


def test_a_full_bucket_sends_a_burst_at_once_then_paces(make: Make) -> None:
    naps = Naps()
    limiter = make(10, burst=5, sleep=naps)

    for _ in range(5):
        limiter.acquire()
    assert naps.asked == []
    assert limiter.would_wait() == pytest.approx(0.1, abs=0.05)

    elapsed = sum(acquire_timed(limiter) for _ in range(10))
    assert 0.9 <= elapsed < 1.3


def test_a_request_bigger_than_the_bucket_borrows(make: Make) -> None:
    naps = Naps()
    limiter = make(100, sleep=naps)

    limiter.acquire(50)
    assert naps.asked == []
    # The debt of 49 messages, plus the message that took the last token, is paid first.
    assert limiter.would_wait(1) == pytest.approx(0.5, abs=0.05)
    assert limiter.would_wait(50) == pytest.approx(0.5, abs=0.05)

    assert 0.45 <= acquire_timed(limiter) < 0.9
    assert sum(naps.asked) == pytest.approx(0.5, abs=0.05)


def test_the_hourly_cap_holds_and_would_wait_says_for_how_long(make: Make) -> None:
    naps = Naps()
    limiter = make(0, 3, sleep=naps)

    for _ in range(3):
        limiter.acquire()
    assert naps.asked == []

    assert limiter.would_wait(1) == pytest.approx(3600, abs=2)
    assert limiter.would_wait(3) == pytest.approx(3600, abs=2)
    # Another process on the same key sees the same hour.
    assert make(0, 3).would_wait(1) == pytest.approx(3600, abs=2)
    assert make(0, 3, key=f"{limiter.key}-other").would_wait(3) == 0.0


def test_the_hourly_window_slides(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    # A one-second "hour" for the test; the limiter reads it at every request.
    monkeypatch.setattr(shared_rate, "HOUR", 1.0)
    limiter = make(0, 4)
    began = time.monotonic()

    stamps = []
    for _ in range(12):
        limiter.acquire()
        stamps.append(time.monotonic())

    # Each grant comes at least an "hour" after the one four before it...
    gaps = [stamps[i + 4] - stamps[i] for i in range(len(stamps) - 4)]
    assert min(gaps) >= 0.98
    # ...and no later than it has to: two waits of an hour, a moment each.
    assert stamps[-1] - began < 2.5


def test_an_abandoned_wait_grants_nothing_and_hands_the_turn_on(make: Make) -> None:
    def abandon(seconds: float) -> None:
        raise Abandon

    limiter = make(2, sleep=abandon)
    limiter.acquire()
    began = time.monotonic()

    with pytest.raises(Abandon):
        limiter.acquire()

    # Nothing was granted: the next message waits out the first one's half second only...
    assert limiter.would_wait() <= 0.5 - (time.monotonic() - began) + 0.01
    # ...and one from elsewhere is not held up by the turn the abandoned wait took (it
    # would be until a second after the abandoned wait began).
    assert acquire_timed(make(2)) < 0.85


def test_a_large_batch_is_not_starved_by_small_ones_from_elsewhere(make: Make) -> None:
    stop = threading.Event()
    grants: list[float] = []

    def sleep_unless_stopped(seconds: float) -> None:
        if stop.is_set():
            raise Abandon
        time.sleep(seconds)

    def small_ones() -> None:
        limiter = make(20, burst=5, sleep=sleep_unless_stopped)
        try:
            while True:
                limiter.acquire()
                grants.append(time.monotonic())
        except Abandon:
            pass

    def give_up_after(deadline: float) -> Callable[[float], None]:
        def sleep(seconds: float) -> None:
            if time.monotonic() > deadline:
                raise TimeoutError("starved")
            time.sleep(seconds)

        return sleep

    other = threading.Thread(target=small_ones)
    other.start()
    try:
        # The small ones have emptied the bucket and take each token as it comes.
        deadline = time.monotonic() + 10
        while len(grants) < 8:
            assert time.monotonic() < deadline, "the small requests were not granted"
            time.sleep(0.01)
        large = make(20, burst=5, sleep=give_up_after(time.monotonic() + 5))

        # Five tokens come in a quarter of a second; the small ones wait behind the batch.
        # (Without the turn it waits until it gives up: the small ones take every token.)
        assert acquire_timed(large, 5) < 2.0
    finally:
        stop.set()
        other.join(timeout=10)
    assert not other.is_alive()


def test_the_state_expires_and_stays_small(make: Make, client: redis.Redis, key: str) -> None:
    paced = make(10, key=f"{key}-paced")
    paced.acquire()
    capped = make(0, 10_000)
    for _ in range(300):
        capped.acquire()

    stored = list(client.scan_iter(match=f"*{key}*"))
    assert stored
    for name in stored:
        lasts = client.pttl(name)
        if name.decode().endswith(f"{key}-paced}}:state"):
            # Once the bucket is full again, the state says nothing: it is gone a second later.
            assert 0 < lasts <= 2100
        else:
            assert 0 < lasts <= 3602_000
    # 300 grants within a few seconds are a few spans, not 300.
    assert client.hlen(f"{{{key}}}:state") <= 3 + 8


def test_an_unreachable_redis_is_named_without_its_password() -> None:
    port = free_port()
    limiter = SharedRateLimiter(10, url=f"redis://:sekrit@127.0.0.1:{port}/15", key="k")

    for ask in (limiter.acquire, limiter.would_wait):
        with pytest.raises(RateRedisError) as refused:
            ask()
        assert isinstance(refused.value, NewsletterError)
        message = str(refused.value)
        assert f"redis://:***@127.0.0.1:{port}/15" in message
        assert "cannot be reached" in message
        assert "sekrit" not in message


def test_a_key_holding_something_else_is_a_clear_error(
    make: Make, client: redis.Redis, key: str
) -> None:
    client.set(f"{{{key}}}:state", "not a limiter's")

    with pytest.raises(RateRedisError, match=f"refused it \\(key {key}\\)"):
        make(10).acquire()


def test_the_workers_share_the_brokers_redis_unless_told_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSLETTER_RATE_LIMIT", "7")
    monkeypatch.setenv("NEWSLETTER_HOURLY_LIMIT", "100")
    monkeypatch.setenv("NEWSLETTER_BROKER_QUEUE", "ours")
    assert shared_redis_url(Settings()) is None

    monkeypatch.setenv("NEWSLETTER_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    assert shared_redis_url(Settings()) is None

    monkeypatch.setenv("NEWSLETTER_BROKER_URL", "redis://127.0.0.1:6379/3")
    settings = Settings()
    url = shared_redis_url(settings)
    assert url == "redis://127.0.0.1:6379/3"
    limiter = SharedRateLimiter.from_settings(settings, url)
    assert (limiter.per_second, limiter.per_hour, limiter.key) == (7, 100, "newsletter:rate:ours")

    monkeypatch.setenv("NEWSLETTER_RATE_REDIS_URL", "redis://:pw@10.0.0.5:6380/2")
    settings = Settings()
    assert shared_redis_url(settings) == "redis://:pw@10.0.0.5:6380/2"
    assert "pw@" not in repr(settings)

    monkeypatch.setenv("NEWSLETTER_RATE_REDIS_URL", "http://127.0.0.1:6379")
    with pytest.raises(ValidationError, match="redis://"):
        Settings()


# The shared-rate proof (issue 12): processes on one key send at the one rate between them.
RATE = 30
PROCESSES = 3
SECONDS = 20.0

_start: Any = None


def _ready(barrier: Any) -> None:
    global _start
    _start = barrier


def _acquire_flat_out(key: str) -> tuple[float, float, list[float]]:
    """In a process of its own: acquire as fast as the limiter allows for SECONDS; when it
    started and stopped, and each grant's time (time.monotonic is one clock for the whole
    machine)."""
    limiter = SharedRateLimiter(RATE, url=REDIS, key=key)
    limiter.would_wait()  # connected, and the script loaded, before the start
    _start.wait(timeout=120)
    stamps = []
    began = time.monotonic()
    ends = began + SECONDS
    while True:
        limiter.acquire()
        now = time.monotonic()
        if now >= ends:
            break
        stamps.append(now)
    limiter.close()
    return began, ends, stamps


@pytest.mark.slow
def test_processes_sharing_a_key_send_at_the_one_rate_between_them(key: str) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    with ProcessPoolExecutor(
        PROCESSES, mp_context=context, initializer=_ready, initargs=(barrier,)
    ) as pool:
        runs = [
            future.result(timeout=180)
            for future in [pool.submit(_acquire_flat_out, key) for _ in range(PROCESSES)]
        ]

    stamps = sorted(stamp for _, _, taken in runs for stamp in taken)
    # While all of them were acquiring.
    began, ended = max(run[0] for run in runs), min(run[1] for run in runs)
    together = [stamp for stamp in stamps if began <= stamp < ended]
    rate = len(together) / (ended - began)
    print(
        f"\n{PROCESSES} processes at a shared {RATE}/s: {rate:.2f}/s over {ended - began:.2f} s "
        f"({len(stamps)} grants, by process {[len(taken) for _, _, taken in runs]}), "
        f"at most {most_in_window(stamps, 1.0)} in any second"
    )

    assert RATE * 0.9 <= rate <= RATE * 1.1
    # RATE in any second by Redis's clock; each process notes its grant a moment after it,
    # so one more may show.
    assert most_in_window(stamps, 1.0) <= RATE + 1
    # Every process had its share.
    assert min(len(taken) for _, _, taken in runs) >= RATE * SECONDS / PROCESSES / 2
