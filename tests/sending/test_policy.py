from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.sending.policy import (
    UNANSWERED,
    OutageWatch,
    RetryPolicy,
    backoff,
    decide,
    is_hard_bounce,
)
from newsletter.store.campaigns import DeliveryState
from newsletter.transports.base import Outcome, Status

NOW = datetime(2024, 5, 2, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, base=10.0, cap=60.0)


def test_sent_is_sent_with_the_providers_id() -> None:
    outcome = Outcome(Status.SENT, provider_id="Q123", detail="250 2.0.0 Ok: queued as Q123")
    decision = decide(outcome, 0, POLICY, now=NOW, jitter=0.5)
    assert decision.state is DeliveryState.SENT
    assert (decision.attempts, decision.provider_id) == (1, "Q123")
    assert decision.detail == "250 2.0.0 Ok: queued as Q123"
    assert decision.not_before is None


def test_a_rejection_fails_at_once_with_the_reply() -> None:
    reply = "550 5.1.1 <a@example.net>: no such user"
    decision = decide(Outcome(Status.REJECTED, detail=reply), 0, POLICY, now=NOW, jitter=0.5)
    assert (decision.state, decision.attempts, decision.detail) == (DeliveryState.FAILED, 1, reply)
    assert decision.hard_bounce
    assert decision.not_before is None


def test_a_deferral_waits_longer_each_time_then_gives_up() -> None:
    deferred = Outcome(Status.RETRY, detail="451 4.7.1 try later")
    waits = []
    for attempts in range(3):
        decision = decide(deferred, attempts, POLICY, now=NOW, jitter=0.0)
        assert decision.state is DeliveryState.PENDING
        assert decision.attempts == attempts + 1
        assert decision.not_before is not None
        waits.append((decision.not_before - NOW).total_seconds())
    # Equal jitter at its low end: half of 10, 20, 40.
    assert waits == [5.0, 10.0, 20.0]
    last = decide(deferred, 3, POLICY, now=NOW, jitter=0.0)
    assert (last.state, last.attempts) == (DeliveryState.FAILED, 4)
    assert last.detail == "gave up after 4 attempts; last: 451 4.7.1 try later"
    assert not last.hard_bounce


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 10, 100])
def test_backoff_stays_between_half_and_all_of_the_capped_exponential(attempt: int) -> None:
    ceiling = min(60.0, 10.0 * 2 ** (attempt - 1))
    assert backoff(attempt, POLICY, 0.0, None) == ceiling / 2
    assert ceiling / 2 < backoff(attempt, POLICY, 0.999, None) < ceiling


def test_jitter_spreads_a_batch_deferred_together() -> None:
    delays = {backoff(3, POLICY, jitter / 10, None) for jitter in range(10)}
    assert len(delays) == 10


def test_retry_after_is_honoured_even_beyond_the_cap() -> None:
    assert backoff(1, POLICY, 0.5, retry_after=120.0) == 120.0
    # A shorter Retry-After does not make the wait shorter than the backoff.
    assert backoff(3, POLICY, 0.0, retry_after=1.0) == 20.0
    decision = decide(
        Outcome(Status.RETRY, detail="429 slow down", retry_after=300.0),
        0,
        POLICY,
        now=NOW,
        jitter=0.3,
    )
    assert decision.not_before == NOW + timedelta(seconds=300)


def test_a_policy_must_make_sense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="base <= cap"):
        RetryPolicy(base=100, cap=10)


@pytest.mark.parametrize(
    ("detail", "hard"),
    [
        ("550 5.1.1 <a@example.net>: Recipient address rejected: User unknown", True),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound", True),
        ("553 5.1.3 Invalid address syntax", True),
        ("550 5.2.1 The email account that you tried to reach is disabled", True),
        ("550 Requested action not taken: mailbox unavailable", True),
        ("551 User not local", True),
        ("552 5.2.2 Mailbox full", False),
        ("552 5.3.4 Message size exceeds fixed limit", False),
        ("554 5.7.1 Message rejected as spam", False),
        ("550 5.7.1 Relaying denied", False),
        ("554 Transaction failed", False),
        ("451 4.7.1 Greylisted", False),
        # A provider's per-recipient refusal names the address without SMTP codes.
        ("sendgrid: Does not contain a valid address.", True),
        ("the server does not offer SMTPUTF8, needed for this address", False),
        ("", False),
    ],
)
def test_hard_bounces_are_refusals_of_the_address(detail: str, hard: bool) -> None:
    assert is_hard_bounce(detail) is hard


def test_an_unanswered_hand_over_counts_as_sent_once() -> None:
    unanswered = Outcome(Status.UNCONFIRMED, detail="postmark: no answer within 60s")
    decision = decide(unanswered, 0, POLICY, now=NOW, jitter=0.5)
    assert decision.state is DeliveryState.SENT
    assert decision.not_before is None
    assert decision.detail == "unconfirmed: postmark: no answer within 60s"
    assert not decision.hard_bounce


def test_a_dot_without_a_reply_is_sent_again_and_noted_for_good() -> None:
    lost = Outcome(Status.RETRY, detail="connection lost before the reply", unanswered=True)
    again = decide(lost, 0, POLICY, now=NOW, jitter=0.0)
    assert (again.state, again.attempts, again.unanswered) == (DeliveryState.PENDING, 1, 1)
    assert again.not_before == NOW + timedelta(seconds=5)
    assert again.detail == (
        f"{UNANSWERED} (connection lost before the reply); to be sent again, same Message-ID"
    )
    # The next try's reply does not wipe the note: a copy may be in the mailbox already.
    sent = Outcome(Status.SENT, provider_id="Q1", detail="250 2.0.0 Ok: queued as Q1")
    done = decide(sent, 1, POLICY, now=NOW, jitter=0.0, unanswered_before=1)
    assert (done.state, done.unanswered, done.provider_id) == (DeliveryState.SENT, 1, "Q1")
    assert done.detail == f"250 2.0.0 Ok: queued as Q1; earlier {UNANSWERED}"
    last = decide(lost, 3, POLICY, now=NOW, jitter=0.0, unanswered_before=3)
    assert (last.state, last.unanswered) == (DeliveryState.FAILED, 4)
    assert last.detail.startswith(f"{UNANSWERED} (gave up after 4 attempts")
    # Without a lost reply, nothing is noted.
    assert decide(sent, 0, POLICY, now=NOW, jitter=0.0).unanswered == 0


def test_an_outage_backs_off_until_its_window_ends_and_any_answer_ends_it() -> None:
    watch = OutageWatch(30, base=1, cap=8)
    down = Outcome(Status.RETRY, detail="cannot connect: refused", unreachable=True)
    answered = Outcome(Status.RETRY, detail="451 4.7.1 later")
    assert watch.delay(NOW) == 0
    now, waits = NOW, []
    while (reason := watch.feed([down, down], now)) is None:
        waits.append(watch.delay(now))
        now += timedelta(seconds=waits[-1])
    assert waits == [1, 2, 4, 8, 8, 7]
    assert reason == (
        "the server could not be reached for 30 s (NEWSLETTER_OUTAGE_WINDOW is 30); "
        "the last: cannot connect: refused"
    )
    # One message the server answered (even a deferral) and the outage is over.
    watch = OutageWatch(30, base=1, cap=8)
    assert watch.feed([down], NOW) is None
    assert watch.feed([down, answered], NOW + timedelta(seconds=29)) is None
    assert watch.delay(NOW) == 0
    assert watch.feed([down], NOW + timedelta(seconds=40)) is None
    with pytest.raises(ValueError):
        OutageWatch(-1)
