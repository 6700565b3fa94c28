"""What an outcome means for a delivery: pure decisions, no I/O, unit-tested on their own.

- `decide`: SENT → sent; UNCONFIRMED (handed over, no answer) → sent, noted as
  unconfirmed, never sent again; REJECTED → failed with the server's reply, never retried, and a
  hard bounce if the reply says the address is bad; RETRY → pending again after an
  exponential backoff with jitter (at least the server's Retry-After), or failed once
  `max_attempts` tries are used up. A RETRY whose end of data got no reply (`unanswered`)
  is counted on the delivery, which from then on carries `UNANSWERED` in its detail.
  (An `unreachable` RETRY never gets here: the runner puts it back as it was.)
- `is_hard_bounce`: whether a rejection is about the address itself (it counts towards
  suppressing the address) rather than the message or a policy.
- (The error storm, so many failed or deferred messages in a row that carrying on would
  only burn through the list, is counted on the campaign across all its runners:
  newsletter.sending.queue.feed_storm.)
- `OutageWatch`: how long the server has been unreachable, how long to wait before the
  next try (exponential, capped), and when the outage has lasted too long.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from newsletter.store.campaigns import DeliveryState
from newsletter.transports.base import Outcome, Status

# The note on a delivery whose end of data went out and got no reply (see decide).
UNANSWERED = "no reply after end of data: may be duplicated"

_SMTP_REPLY = re.compile(r"^([2-5])(\d\d)\b")
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    # Seconds before the first retry; each later one waits twice as long, up to `cap`.
    base: float = 30.0
    cap: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0 < self.base <= self.cap:
            raise ValueError("retry delays need 0 < base <= cap")


@dataclass(frozen=True)
class Decision:
    state: DeliveryState
    attempts: int
    # When a pending delivery may be tried again.
    not_before: datetime | None
    detail: str
    provider_id: str | None = None
    hard_bounce: bool = False
    # End-of-data dots that got no reply, over all attempts: above 0, it may be duplicated.
    unanswered: int = 0


def backoff(attempt: int, policy: RetryPolicy, jitter: float, retry_after: float | None) -> float:
    """Seconds to wait after failed try number `attempt` (1-based).

    "Equal jitter": half the exponential delay for sure, the other half random, so a
    batch deferred together does not come back together. `jitter` is in [0, 1).
    Never less than the server's Retry-After, which is honoured even beyond `cap`.
    """
    ceiling = min(policy.cap, policy.base * 2.0 ** min(attempt - 1, 60))
    delay = ceiling / 2 + jitter * ceiling / 2
    if retry_after is not None and retry_after > delay:
        return retry_after
    return delay


def decide(
    outcome: Outcome,
    attempts_before: int,
    policy: RetryPolicy,
    *,
    now: datetime,
    jitter: float,
    unanswered_before: int = 0,
) -> Decision:
    """`unanswered_before`: the delivery's earlier dots without a reply."""
    attempts = attempts_before + 1
    no_reply = outcome.status is Status.RETRY and outcome.unanswered
    unanswered = unanswered_before + no_reply
    decision = _decide(outcome, attempts, policy, now=now, jitter=jitter)
    if not unanswered:
        return decision
    # Kept on the delivery whatever comes next: a copy may already be in the mailbox.
    if not no_reply:
        detail = f"{decision.detail}; earlier {UNANSWERED}"
    elif decision.state is DeliveryState.PENDING:
        detail = f"{UNANSWERED} ({decision.detail}); to be sent again, same Message-ID"
    else:
        detail = f"{UNANSWERED} ({decision.detail})"
    return replace(decision, detail=detail, unanswered=unanswered)


def _decide(
    outcome: Outcome, attempts: int, policy: RetryPolicy, *, now: datetime, jitter: float
) -> Decision:
    if outcome.status is Status.SENT:
        return Decision(DeliveryState.SENT, attempts, None, outcome.detail, outcome.provider_id)
    if outcome.status is Status.UNCONFIRMED:
        # As a send killed while its request was out is settled: at most once.
        return Decision(DeliveryState.SENT, attempts, None, f"unconfirmed: {outcome.detail}")
    if outcome.status is Status.REJECTED:
        return Decision(
            DeliveryState.FAILED,
            attempts,
            None,
            outcome.detail,
            hard_bounce=is_hard_bounce(outcome.detail),
        )
    if attempts >= policy.max_attempts:
        return Decision(
            DeliveryState.FAILED,
            attempts,
            None,
            f"gave up after {attempts} attempts; last: {outcome.detail}",
        )
    delay = backoff(attempts, policy, jitter, outcome.retry_after)
    return Decision(DeliveryState.PENDING, attempts, now + timedelta(seconds=delay), outcome.detail)


def is_hard_bounce(detail: str) -> bool:
    """Whether a permanent rejection says the address itself is bad.

    SMTP replies: an enhanced status code decides when there is one (5.1.x: no such
    mailbox, domain or address syntax; 5.2.1: mailbox disabled); otherwise 550, 551 and
    553. Rejections for size (5.3.4, 552), policy or content (5.7.x, 554) or a full
    mailbox (5.2.2) are about the message, not the address. A rejection without an SMTP
    code comes from a provider's per-recipient error, which concerns the address, except
    our own server's missing SMTPUTF8 support.
    """
    detail = detail.strip()
    reply = _SMTP_REPLY.match(detail)
    if reply is None:
        return bool(detail) and "SMTPUTF8" not in detail
    if reply.group(1) != "5":
        return False
    enhanced = _ENHANCED.search(detail[3:40])
    if enhanced is not None and enhanced.group(1) == "5":
        subject, item = enhanced.group(2), enhanced.group(3)
        return subject == "1" or (subject == "2" and item == "1")
    return int(detail[:3]) in (550, 551, 553)


class OutageWatch:
    """An outage: batches in which the server could be reached for none of the messages.

    While it lasts less than `window` seconds the runner waits `delay()` and tries again:
    `base`, doubled after each failed try, at most `cap`, never past the window's end (so
    the last try falls on it). Any message the server answered ends the outage.
    """

    def __init__(self, window: float, *, base: float = 1.0, cap: float = 10.0) -> None:
        if window < 0 or not 0 < base <= cap:
            raise ValueError("an outage window needs window >= 0 and 0 < base <= cap")
        self.window = window
        self.base = base
        self.cap = cap
        self.since: datetime | None = None
        self.tries = 0
        self.last = ""

    def feed(self, outcomes: Sequence[Outcome], now: datetime) -> str | None:
        """The reason to pause, once the server has been unreachable for `window`."""
        if not outcomes:
            return None
        if not all(outcome.unreachable for outcome in outcomes):
            self.since, self.tries = None, 0
            return None
        if self.since is None:
            self.since = now
        self.tries += 1
        self.last = outcomes[-1].detail
        lasted = (now - self.since).total_seconds()
        if lasted >= self.window:
            return (
                f"the server could not be reached for {lasted:.0f} s "
                f"(NEWSLETTER_OUTAGE_WINDOW is {self.window:g}); the last: {self.last}"
            )
        return None

    def delay(self, now: datetime) -> float:
        """Seconds to wait before the next try; 0 when there is no outage."""
        if self.since is None:
            return 0.0
        wait = min(self.cap, self.base * 2.0 ** min(self.tries - 1, 60))
        left = self.window - (now - self.since).total_seconds()
        return max(0.0, min(wait, left))
