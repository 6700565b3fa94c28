"""One rate limit for every sending worker, on every machine: the limiter's state in Redis.

`SharedRateLimiter` is `RateLimiter` (ratelimit.py) with its state in Redis, under a key
the caller names: every process that uses the same Redis and key shares one per-second
token bucket and one hourly window, so four workers with NEWSLETTER_RATE_LIMIT=50 send
50 messages a second between them, not 200. The limits, their arguments and the
guarantees are RateLimiter's, word for word (read its docstring): a bucket of `burst`
tokens (default 1) refilled at `per_second`; requests larger than the bucket borrow; no
half-open span of 3600 seconds holds more than `per_hour` grants, grants less than a second
apart remembered together as if made at the latest of them.

How. One Lua script decides each request atomically inside Redis, on Redis's clock (TIME),
so the machines' clocks never matter: it either grants (and records the grant) or answers
how long to wait. The client sleeps that long, in naps of at most a second, and asks again.
A request within 10 ms of its moment is granted for that moment (recorded as made then),
and the client sleeps out the rest before it returns: so the schedule keeps to Redis's
clock, not to how late each sleeper wakes, and a message never goes before its moment.
A wait abandoned (`sleep` raising) grants nothing, but in those last 10 ms, where the
grant counts though nothing is sent: stricter, never looser. The state is one hash,
`{<key>}:state` (the bucket, and the hourly spans in order); the braces keep the keys of
one limiter on one Redis Cluster slot. The hash expires once it no longer matters (the
bucket full again, the last span out of the hour), and holds at most about 3600 spans, so
memory stays bounded however long the limiter runs.

Fairness. As in RateLimiter, requests are served in roughly arrival order, so a large batch
waiting for a full bucket is not starved by small ones from other processes: a request that
has to wait holds the turn (`{<key>}:turn`) while it sleeps, and the others wait behind it.
The turn only orders requests, the limits never depend on it: it expires a moment after its
holder should have woken, so a holder that died holds nobody up for long.

Failures. A Redis that cannot be reached (after a few quick retries) raises
`RateRedisError`, naming the URL without its password. A retried request whose first answer
was lost may be counted twice; that only ever makes the limiter stricter, never lets a
message through early.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from newsletter.core.errors import NewsletterError
from newsletter.core.urls import without_password
from newsletter.sending.ratelimit import HOUR, check_count, checked_limits

if TYPE_CHECKING:
    from newsletter.core.settings import Settings

# Grants within this many seconds share one span in the hourly record (as in ratelimit.py).
_GRAIN = 1.0
# The longest a request sleeps before it asks again, so that a long (hourly) wait keeps the
# turn fresh and a holder that died holds the others up for at most this plus the grace.
_MAX_NAP = 1.0
# How long the turn outlives the moment its holder should wake and ask again.
_GRACE = 0.5
# A request behind a turn whose holder is late (waking, or on its way) looks again this soon.
_LATE_NAP = 0.002
# A request this close to its moment is granted for that moment at once, and sleeps the rest
# itself; one further away naps until this long before it. So the schedule keeps to Redis's
# clock, not to how late each sleeper wakes: waking up takes a moment (more on a busy
# machine), and a bucket of one token cannot make up for time lost.
_LEAD = 0.01
# Per attempt: a Redis slower than this is as good as unreachable for pacing messages.
_TIMEOUT = 5.0

# KEYS: the state hash, the turn. ARGV: mode ("take", "peek" or "free"), n, per second,
# burst, per hour (0: no cap), the hour, the grain, the request's token, the longest nap, the
# grace, the late nap, the lead. Answers {1, seconds until the moment granted (at most the
# lead)} or {0, seconds to sleep before asking again}; a float goes back as a string, since
# Redis would truncate a Lua number to an integer.
#
# The state hash: `full`, when the bucket is full again (absent: full already); `count`,
# the messages in the hourly spans; spans s<head> .. s<tail - 1>, oldest first, each
# "<opened> <expires> <count>". Every float is written with 17 significant digits, so
# it reads back exactly. `slack` is ratelimit._slack: each grant pushes the schedule back
# by a few units in the last place, so rounding never lets a message through early.
_SCRIPT = """
local state, turn = KEYS[1], KEYS[2]
local mode, token = ARGV[1], ARGV[8]

local function fmt(x) return string.format('%.17g', x) end
local function span_at(i)
  local entry = redis.call('HGET', state, string.format('s%d', i))
  local opened, expires, count = string.match(entry, '^(%S+) (%S+) (%S+)$')
  return tonumber(opened), tonumber(expires), tonumber(count)
end
local function turn_of(held)
  local holder, wakes = string.match(held, '^(%S+) (%S+)$')
  return holder, tonumber(wakes)
end

if mode == 'free' then
  local held = redis.call('GET', turn)
  if held and turn_of(held) == token then redis.call('DEL', turn) end
  return {0, '0'}
end

local n, rate, burst = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local hourly, hour, grain = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local slack = 1e-9 + math.abs(now) * 1e-14

local fields = redis.call('HMGET', state, 'full', 'count', 'head', 'tail')
local full = tonumber(fields[1])
local count = tonumber(fields[2]) or 0
local head, tail = tonumber(fields[3]) or 0, tonumber(fields[4]) or 0

-- Seconds until both limits allow n more; <= 0 means now (ratelimit.RateLimiter._wait).
local wait = -math.huge
if rate > 0 and full then
  -- Borrowing: a request bigger than the bucket needs only a full bucket.
  wait = full - (burst - math.min(n, burst)) / rate - now
end
if hourly > 0 then
  local excess = count + n - hourly
  local i = head
  while excess > 0 and i < tail do
    local _, expires, spanned = span_at(i)
    excess = excess - spanned
    wait = math.max(wait, expires - now)
    i = i + 1
  end
end

if mode == 'peek' then return {0, fmt(math.max(wait, 0))} end

local lead = tonumber(ARGV[12])
local held = redis.call('GET', turn)
if held then
  local holder, wakes = turn_of(held)
  if holder ~= token then
    -- Behind the holder: until it has been granted, unless it is late already.
    local behind = wakes + lead - now
    if behind <= 0 then behind = tonumber(ARGV[11]) end
    return {0, fmt(math.max(wait, behind))}
  end
end

if wait > lead then
  -- Hold the turn while sleeping, so that later requests queue behind this one.
  local nap = math.min(wait - lead, tonumber(ARGV[9]))
  local lasts = math.ceil((nap + tonumber(ARGV[10])) * 1000)
  redis.call('SET', turn, token .. ' ' .. fmt(now + nap), 'PX', lasts)
  return {0, fmt(nap)}
end

-- The grant (ratelimit.RateLimiter._grant), for the moment `at`, now or a moment ahead.
-- Spans are let go by now, not by `at`: a request granted meanwhile still counts them.
local at = now + math.max(wait, 0)
local keep = at
if rate > 0 then
  full = math.max(full or at, at) + n / rate + slack
  redis.call('HSET', state, 'full', fmt(full))
  keep = full
end
if hourly > 0 then
  while head < tail do
    local _, expires, spanned = span_at(head)
    if expires > now then break end
    redis.call('HDEL', state, string.format('s%d', head))
    count = count - spanned
    head = head + 1
  end
  local expires = at + hour + slack
  local merged = false
  if head < tail then
    local opened, last, spanned = span_at(tail - 1)
    -- Also a grant for before the last span's moment (one granted ahead, for a request
    -- that came earlier): it joins that span, which never expires sooner for it.
    if at - opened < grain then
      expires = math.max(expires, last)
      redis.call('HSET', state, string.format('s%d', tail - 1),
        fmt(opened) .. ' ' .. fmt(expires) .. ' ' .. fmt(spanned + n))
      merged = true
    end
  end
  if not merged then
    redis.call('HSET', state, string.format('s%d', tail),
      fmt(at) .. ' ' .. fmt(expires) .. ' ' .. fmt(n))
    tail = tail + 1
  end
  count = count + n
  redis.call('HSET', state, 'count', fmt(count), 'head', fmt(head), 'tail', fmt(tail))
  keep = math.max(keep, expires)
end
-- Gone once it no longer matters; never sooner than another limiter on the key asked.
local lasts = math.max(math.ceil((keep - now + 1) * 1000), redis.call('PTTL', state))
redis.call('PEXPIRE', state, lasts)
if held then redis.call('DEL', turn) end
return {1, fmt(at - now)}
"""


class RateRedisError(NewsletterError):
    """The Redis that the rate limit is shared through cannot be reached or refused it."""


class SharedRateLimiter:
    """Blocks senders in every process on `key` so the rates they share are never exceeded."""

    def __init__(
        self,
        per_second: float,
        per_hour: int | None = None,
        *,
        url: str,
        key: str,
        burst: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`per_second` 0 and `per_hour` None or 0 mean no limit of that kind; with neither,
        Redis is never asked. `url`: the Redis (redis://, rediss:// or unix://); `key`: the
        prefix of the limiter's keys there, e.g. newsletter:rate:<name>.

        `sleep(seconds)` must sleep at least that long, as the default does; it may raise to
        abandon a wait (nothing is granted then, but in the wait's last 10 ms, see above).
        """
        self._rate, self._hourly, self._burst = checked_limits(per_second, per_hour, burst)
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string, not {key!r}")
        self._shown = without_password(url)
        try:
            self._client: redis.Redis = redis.Redis.from_url(
                url,
                socket_connect_timeout=_TIMEOUT,
                socket_timeout=_TIMEOUT,
                # A restarting Redis is waited for a moment; a missing one fails fast.
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
            )
        except ValueError as exc:
            raise ValueError(f"not a Redis URL: {self._shown} ({exc})") from None
        self._script = self._client.register_script(_SCRIPT)
        self._keys = [f"{{{key}}}:state", f"{{{key}}}:turn"]
        self._key = key
        self._sleep = sleep
        # Held by this limiter's request at the head of its queue, sleep included: its
        # threads queue here, and only the head one asks Redis.
        self._turn = threading.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, url: str, *, key: str | None = None
    ) -> SharedRateLimiter:
        """The limiter for NEWSLETTER_RATE_LIMIT and NEWSLETTER_HOURLY_LIMIT, shared through
        the Redis at `url` (newsletter.core.settings.shared_redis_url) by every worker of
        the installation: under `key`, by default newsletter:rate:<NEWSLETTER_BROKER_QUEUE>."""
        return cls(
            settings.rate_limit,
            settings.hourly_limit,
            url=url,
            key=key if key is not None else f"newsletter:rate:{settings.broker_queue}",
        )

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

    @property
    def key(self) -> str:
        return self._key

    def acquire(self, n: int = 1) -> None:
        """Wait until `n` messages may go, then count them as sent now."""
        check_count(n, self._hourly)
        if n == 0 or self.unlimited:
            return
        token = uuid.uuid4().hex
        with self._turn:
            waited = False
            try:
                while True:
                    granted, wait = self._ask("take", n, token)
                    if granted:
                        if wait > 0:
                            # Granted for a moment ahead; the message goes no sooner.
                            self._sleep(wait)
                        return
                    waited = True
                    self._sleep(min(wait, _MAX_NAP))
            except RateRedisError:
                raise
            except BaseException:
                # An abandoned wait hands the turn on now rather than when it expires.
                if waited:
                    with contextlib.suppress(RateRedisError):
                        self._ask("free", n, token)
                raise

    def would_wait(self, n: int = 1) -> float:
        """Seconds until `n` messages could go, if nothing else is granted meanwhile; 0.0 if
        they could go now. Changes nothing."""
        check_count(n, self._hourly)
        if n == 0 or self.unlimited:
            return 0.0
        return self._ask("peek", n, "-")[1]

    def close(self) -> None:
        """Close the connections to Redis; the limiter opens new ones if used again."""
        self._client.close()

    def _ask(self, mode: str, n: int, token: str) -> tuple[bool, float]:
        args: list[str | int] = [
            mode,
            n,
            repr(self._rate),
            repr(self._burst),
            self._hourly or 0,
            repr(float(HOUR)),
            repr(_GRAIN),
            token,
            repr(_MAX_NAP),
            repr(_GRACE),
            repr(_LATE_NAP),
            repr(_LEAD),
        ]
        try:
            granted, wait = self._script(keys=self._keys, args=args)
        except redis.AuthenticationError as exc:
            raise RateRedisError(
                f"the Redis at {self._shown} that the rate limit is shared through refused "
                f"the login: {exc}"
            ) from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise RateRedisError(
                f"the Redis at {self._shown} that the rate limit is shared through cannot be "
                f"reached: {exc}"
            ) from exc
        except redis.RedisError as exc:
            raise RateRedisError(
                f"the Redis at {self._shown} that the rate limit is shared through refused "
                f"it (key {self._key}): {exc}"
            ) from exc
        return bool(granted), float(wait)
