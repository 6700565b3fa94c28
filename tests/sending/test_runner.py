from __future__ import annotations

import socket
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.core.settings import Settings
from newsletter.sending.control import PAUSED_BY_STAFF, cancel_campaign, pause_campaign
from newsletter.sending.lease import LeaseHeldError, take_lease
from newsletter.sending.marks import MarkFile, marks_folder, marks_path
from newsletter.sending.queue import CANCELLED, NO_LONGER_ELIGIBLE, SETTLED_SENT
from newsletter.sending.ratelimit import RateLimiter
from newsletter.sending.runner import Progress, Runner, RunResult
from newsletter.store.campaigns import CampaignStatus, Delivery, DeliveryState
from newsletter.store.models import Event, EventKind, Subscriber
from newsletter.store.subscriptions import is_suppressed, unsubscribe
from newsletter.store.types import utcnow
from newsletter.transports.outbox import OutboxTransport
from newsletter.transports.postmark import PostmarkTransport
from newsletter.transports.smtp import SmtpTransport, parse_smtp_url
from tests.sending.helpers import (
    after_first_batch,
    campaign,
    leave_runner,
    new_campaign,
    populated_list,
    rows,
    sending_settings,
    smtp_transport,
)
from tests.sending.mta import Mta
from tests.store.databases import current_engine, session_scope
from tests.transports.fakes import PostmarkFake
from tests.transports.smtp_servers import Mailbox, authenticator, smtp_server

KEY = b"test-secret-key-0123456789"


def run(
    campaign_id: int,
    port: int,
    settings: Settings | None = None,
    *,
    resume: bool = False,
    connections: int = 2,
    **options: Any,
) -> RunResult:
    transport = smtp_transport(port, connections)
    try:
        runner = Runner(
            campaign_id,
            transport,
            settings=settings or sending_settings(),
            engine=current_engine(),
            **options,
        )
        return runner.run(resume=resume)
    finally:
        transport.close()


def accepted_ids(mailbox: Mailbox) -> dict[str, list[str]]:
    """Message-IDs the server accepted, by recipient."""
    found: dict[str, list[str]] = {}
    for message in mailbox.accepted:
        parsed = message_from_bytes(message.data, policy=policy.SMTP)
        found.setdefault(message.rcpt_tos[0], []).append(str(parsed["Message-ID"]))
    return found


def test_each_eligible_recipient_gets_the_campaign_exactly_once(db: str) -> None:
    audience = populated_list(active=20)
    campaign_id = new_campaign(audience)
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        result = run(campaign_id, port, sending_settings(send_batch_size=6))
    assert result.status is CampaignStatus.DONE
    assert (result.tally.sent, result.tally.failed, result.tally.left) == (20, 0, 0)
    received = accepted_ids(mailbox)
    assert sorted(received) == sorted(audience.eligible)
    assert all(len(ids) == 1 for ids in received.values())
    deliveries = rows(campaign_id)
    # Unsubscribed, suppressed, unconfirmed and other lists' members are never enqueued.
    assert sorted(deliveries) == sorted(audience.eligible)
    for address, row in deliveries.items():
        assert row.state is DeliveryState.SENT
        assert row.attempts == 1
        assert received[address] == [f"<{campaign(campaign_id).token}.{row.id}@example.org>"]


def test_a_deferred_message_is_retried_and_then_sent_once(db: str) -> None:
    audience = populated_list(active=4)
    campaign_id = new_campaign(audience)
    mailbox = Mailbox({"r2@example.net": [("rcpt", "451 4.7.1 Greylisted, try later")]})
    with smtp_server(mailbox) as port:
        result = run(campaign_id, port)
    assert result.status is CampaignStatus.DONE
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)
    row = rows(campaign_id)["r2@example.net"]
    assert (row.state, row.attempts) == (DeliveryState.SENT, 2)


def test_a_message_deferred_every_time_fails_after_the_last_attempt(sqlite_db: str) -> None:
    audience = populated_list(active=2)
    campaign_id = new_campaign(audience)
    busy = "452 4.2.2 Mailbox full"
    mailbox = Mailbox({"r1@example.net": [("rcpt", busy)] * 3})
    with smtp_server(mailbox) as port:
        result = run(campaign_id, port, sending_settings(send_max_attempts=3))
    assert result.status is CampaignStatus.DONE
    row = rows(campaign_id)["r1@example.net"]
    assert (row.state, row.attempts) == (DeliveryState.FAILED, 3)
    assert row.detail == f"gave up after 3 attempts; last: {busy}"
    assert mailbox.recipients() == ["r2@example.net"]


def test_a_permanent_rejection_fails_with_the_reply_and_is_never_retried(db: str) -> None:
    audience = populated_list(active=3)
    campaign_id = new_campaign(audience)
    reply = "550 5.1.1 <r2@example.net>: Recipient address rejected"
    # One-shot rule: a second try would be accepted, so none may happen.
    mailbox = Mailbox({"r2@example.net": [("rcpt", reply)]})
    with smtp_server(mailbox) as port:
        result = run(campaign_id, port)
    assert result.status is CampaignStatus.DONE
    assert (result.tally.sent, result.tally.failed) == (2, 1)
    row = rows(campaign_id)["r2@example.net"]
    assert (row.state, row.attempts, row.detail) == (DeliveryState.FAILED, 1, reply)
    assert row.hard_bounce
    assert "r2@example.net" not in mailbox.recipients()


def test_repeated_hard_bounces_suppress_the_address(db: str) -> None:
    audience = populated_list(active=3)
    hard = "550 5.1.1 no such user"
    size = "552 5.3.4 Message too big"
    mailbox = Mailbox(
        {"r1@example.net": [("rcpt", hard)] * 2, "r2@example.net": [("data", size)] * 2}
    )
    with smtp_server(mailbox) as port:
        first = run(new_campaign(audience), port)
        with session_scope() as session:
            assert not is_suppressed(session, "r1@example.net")
        second = run(new_campaign(audience), port)
        third = new_campaign(audience)
    assert first.suppressed == []
    assert second.suppressed == ["r1@example.net"]
    with session_scope() as session:
        assert is_suppressed(session, "r1@example.net")
        # A rejection for the message's size says nothing about the address.
        assert not is_suppressed(session, "r2@example.net")
        subscriber = session.scalar(
            select(Subscriber.id).where(Subscriber.email_key == "r1@example.net")
        )
        events = session.scalars(
            select(Event).where(Event.subscriber_id == subscriber, Event.kind == EventKind.BOUNCED)
        ).all()
    assert len(events) == 1
    assert events[0].detail is not None and hard in events[0].detail
    # The next campaign leaves the address out.
    assert "r1@example.net" not in rows(third)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_refused_login_pauses_the_campaign_with_the_reason(sqlite_db: str) -> None:
    audience = populated_list(active=5)
    campaign_id = new_campaign(audience)
    mailbox = Mailbox()
    with smtp_server(mailbox, authenticator=authenticator, auth_require_tls=False) as port:
        transport = SmtpTransport(parse_smtp_url(f"smtp://mailer:wrong@127.0.0.1:{port}"))
        try:
            result = Runner(
                campaign_id, transport, settings=sending_settings(), engine=current_engine()
            ).run()
        finally:
            transport.close()
    assert result.status is CampaignStatus.PAUSED
    assert result.reason is not None and "refused the login: 535" in result.reason
    assert mailbox.accepted == []
    # Nothing was attempted, so nothing counts as an attempt.
    assert {(r.state, r.attempts) for r in rows(campaign_id).values()} == {
        (DeliveryState.PENDING, 0)
    }
    assert campaign(campaign_id).pause_reason == result.reason


def test_many_failures_in_a_row_pause_the_campaign_instead_of_burning_the_list(
    sqlite_db: str,
) -> None:
    audience = populated_list(active=12)
    campaign_id = new_campaign(audience)
    refusal = "554 5.7.1 Service unavailable; client host blocked"
    mailbox = Mailbox({address: [("rcpt", refusal)] for address in audience.eligible})
    settings = sending_settings(send_batch_size=4, send_pause_after_failures=6)
    with smtp_server(mailbox) as port:
        result = run(campaign_id, port, settings)
    assert result.status is CampaignStatus.PAUSED
    assert result.reason == f"8 messages in a row were not accepted; the last: {refusal}"
    states = [row.state for row in rows(campaign_id).values()]
    # Two batches of four were tried; the rest of the list is untouched.
    assert states.count(DeliveryState.FAILED) == 8
    assert states.count(DeliveryState.PENDING) == 4


def test_a_pause_from_another_session_stops_the_runner_before_its_next_batch(db: str) -> None:
    audience = populated_list(active=12)
    campaign_id = new_campaign(audience)
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        result = run(
            campaign_id,
            port,
            sending_settings(send_batch_size=3),
            on_progress=after_first_batch(
                elsewhere(
                    lambda session: pause_campaign(
                        session, campaign_id, PAUSED_BY_STAFF, now=utcnow()
                    )
                )
            ),
        )
        assert result.status is CampaignStatus.PAUSED
        assert result.reason == PAUSED_BY_STAFF
        assert len(mailbox.accepted) == 3
        # Resuming sends the rest, each once.
        resumed = run(campaign_id, port, resume=True)
    assert resumed.status is CampaignStatus.DONE
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)


def test_a_cancel_from_another_session_stops_the_runner_and_skips_the_rest(db: str) -> None:
    audience = populated_list(active=12)
    campaign_id = new_campaign(audience)
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        result = run(
            campaign_id,
            port,
            sending_settings(send_batch_size=3),
            on_progress=after_first_batch(
                elsewhere(
                    lambda session: cancel_campaign(
                        session, campaign_id, now=utcnow(), lease_timeout=30
                    )
                )
            ),
        )
    assert result.status is CampaignStatus.CANCELLED
    assert len(mailbox.accepted) == 3
    states = sorted((row.state, row.detail) for row in rows(campaign_id).values())
    assert states.count((DeliveryState.SKIPPED, CANCELLED)) == 9
    assert [s for s, _ in states].count(DeliveryState.SENT) == 3


def test_the_next_batch_is_claimed_before_one_goes_and_is_returned_as_it_was_on_a_pause(
    sqlite_db: str,
) -> None:
    audience = populated_list(active=9)
    campaign_id = new_campaign(audience)
    seen: list[Counter[DeliveryState]] = []

    def at_the_first_dot(kind: str) -> None:
        if kind == "dot" and not seen:
            seen.append(Counter(row.state for row in rows(campaign_id).values()))

    pause = elsewhere(
        lambda session: pause_campaign(session, campaign_id, PAUSED_BY_STAFF, now=utcnow())
    )
    with Mta(on_event=at_the_first_dot) as mta:
        result = run(
            campaign_id,
            mta.port,
            sending_settings(send_batch_size=3),
            connections=1,
            on_progress=after_first_batch(pause),
        )
    # While the first batch was with the server, the second was in hand already.
    assert seen == [{DeliveryState.SENDING: 6, DeliveryState.PENDING: 3}]
    assert result.status is CampaignStatus.PAUSED
    assert len(mta.accepted) == 3
    after = rows(campaign_id).values()
    assert Counter(row.state for row in after) == {
        DeliveryState.SENT: 3,
        DeliveryState.PENDING: 6,
    }
    # The batch in hand was never tried: no attempt, no detail, no commit mark.
    assert {
        (row.attempts, row.detail, row.committed_at)
        for row in after
        if row.state is DeliveryState.PENDING
    } == {(0, None, None)}


def test_a_stop_request_finishes_the_batch_and_pauses(sqlite_db: str) -> None:
    audience = populated_list(active=9)
    campaign_id = new_campaign(audience)
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        transport = smtp_transport(port)
        try:
            runner = Runner(
                campaign_id,
                transport,
                settings=sending_settings(send_batch_size=3),
                engine=current_engine(),
            )
            runner.on_progress = after_first_batch(
                lambda: runner.request_stop("interrupted with Ctrl-C")
            )
            result = runner.run()
        finally:
            transport.close()
    assert (result.status, result.reason) == (CampaignStatus.PAUSED, "interrupted with Ctrl-C")
    assert len(mailbox.accepted) == 3
    assert campaign(campaign_id).pause_reason == "interrupted with Ctrl-C"


def test_a_recipient_who_leaves_before_their_turn_is_skipped(db: str) -> None:
    audience = populated_list(active=4)
    campaign_id = new_campaign(audience)
    with session_scope(write=True) as session:
        subscriber = session.scalar(
            select(Subscriber.id).where(Subscriber.email_key == "r3@example.net")
        )
        assert subscriber is not None
        unsubscribe(session, subscriber, audience.id, source="test")
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        result = run(campaign_id, port)
    assert (result.tally.sent, result.tally.skipped) == (3, 1)
    row = rows(campaign_id)["r3@example.net"]
    assert (row.state, row.detail) == (DeliveryState.SKIPPED, NO_LONGER_ELIGIBLE)
    assert "r3@example.net" not in mailbox.recipients()


def test_a_message_that_cannot_be_made_fails_alone(sqlite_db: str) -> None:
    audience = populated_list(active=2)
    from newsletter.store.subscriptions import subscribe

    with session_scope(write=True) as session:
        # A valid address that this sender cannot put in a header (no SMTPUTF8 support).
        subscribe(session, audience.id, "ünï@example.net", source="test")
    campaign_id = new_campaign(audience)
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        result = run(campaign_id, port)
    assert result.status is CampaignStatus.DONE
    row = rows(campaign_id)["ünï@example.net"]
    assert row.state is DeliveryState.FAILED
    assert row.detail is not None and row.detail.startswith("the message could not be made")
    assert not row.hard_bounce
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)


def test_the_rate_limit_is_acquired_for_every_message(sqlite_db: str) -> None:
    audience = populated_list(active=25)
    campaign_id = new_campaign(audience)
    clock = FakeClock()
    limiter = RecordingLimiter(10, clock=clock, sleep=clock.sleep)
    mailbox = Mailbox()
    reports: list[Progress] = []
    with smtp_server(mailbox) as port:
        result = run(
            campaign_id,
            port,
            limiter=limiter,
            connections=3,
            sleep=clock.sleep,
            on_progress=reports.append,
        )
    assert result.status is CampaignStatus.DONE
    assert len(mailbox.accepted) == 25
    assert limiter.requests == [1] * 25
    # Batches are cut to two seconds of sending at the rate: 20, then 5.
    assert [report.tally.sent for report in reports] == [0, 20, 25, 25]
    # Never more than 10 in any one-second window of the (fake) clock.
    grants = sorted(limiter.granted_at)
    assert all(grants[i + 10] - grants[i] >= 1.0 for i in range(len(grants) - 10))
    assert grants[-1] - grants[0] == pytest.approx(2.4)


def test_deliveries_left_in_flight_are_settled_by_what_the_database_recorded(db: str) -> None:
    audience = populated_list(active=5)
    campaign_id = new_campaign(audience)
    now = utcnow()
    with session_scope(write=True) as session:
        ids = session.scalars(
            select(Delivery.id).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        ).all()
        # As a runner killed mid-batch leaves them: two past the point of no return, of
        # which the server's acceptance of the first was recorded.
        dead = f"{socket.gethostname()}:{dead_pid()}"
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[:4]))
            .values(state=DeliveryState.SENDING, attempts=0, claimed_by=dead)
        )
        session.execute(update(Delivery).where(Delivery.id.in_(ids[:2])).values(committed_at=now))
        session.execute(update(Delivery).where(Delivery.id == ids[0]).values(handed_over_at=now))
    # Its lease: on this host, by a process that no longer exists.
    leave_runner(campaign_id, dead, now)
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        result = run(campaign_id, port, resume=True)
    assert (result.settled_sent, result.resent) == (1, 3)
    assert result.status is CampaignStatus.DONE
    # The accepted one is not sent again. The one handed over without an answer may or
    # may not have gone: it is sent again, not lost, and counted as may be duplicated.
    assert sorted(mailbox.recipients()) == [f"r{n}@example.net" for n in (2, 3, 4, 5)]
    assert result.may_be_duplicated == 1
    by_id = {row.id: row for row in rows(campaign_id).values()}
    assert by_id[ids[0]].detail == SETTLED_SENT
    assert all(by_id[i].state is DeliveryState.SENT for i in ids)


def test_on_the_same_host_the_dead_runners_marks_settle_what_was_in_flight(
    sqlite_db: str,
) -> None:
    audience = populated_list(active=4)
    campaign_id = new_campaign(audience)
    dead = f"{socket.gethostname()}:{dead_pid()}"
    now = utcnow()
    with session_scope(write=True) as session:
        ids = session.scalars(
            select(Delivery.id).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        ).all()
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[:3]))
            .values(state=DeliveryState.SENDING, claimed_by=dead)
        )
        # Three commits reached the database, which the marks say more about: the first
        # was accepted, the second handed over without an answer yet, and the runner
        # died before marking the third, so its dot never went out.
        session.execute(update(Delivery).where(Delivery.id.in_(ids[:3])).values(committed_at=now))
    leave_runner(campaign_id, dead, now)
    folder = marks_folder(sending_settings())
    marks = MarkFile(marks_path(folder, campaign_id, dead), ids[0], len(ids))
    marks.set(ids[0])
    marks.handed_over(ids[0])
    marks.set(ids[1])
    marks.close()
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        result = run(campaign_id, port, resume=True)
    assert (result.settled_sent, result.resent) == (1, 2)
    assert sorted(mailbox.recipients()) == ["r2@example.net", "r3@example.net", "r4@example.net"]
    assert result.may_be_duplicated == 1
    assert list(folder.iterdir()) == []


def test_other_transports_run_the_same_way(sqlite_db: str, tmp_path: Path) -> None:
    audience = populated_list(active=5)
    outbox = OutboxTransport(tmp_path / "outbox")
    first = Runner(
        new_campaign(audience, transport="outbox"),
        outbox,
        settings=sending_settings(),
        engine=current_engine(),
    )
    assert first.run().status is CampaignStatus.DONE
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 5

    fake = PostmarkFake("token", inactive={"r3@example.net"}).start()
    postmark = PostmarkTransport("token", base_url=fake.url, timeout=5)
    campaign_id = new_campaign(audience, transport="postmark")
    try:
        result = Runner(
            campaign_id, postmark, settings=sending_settings(), engine=current_engine()
        ).run()
    finally:
        postmark.close()
        fake.stop()
    assert result.status is CampaignStatus.DONE
    assert (result.tally.sent, result.tally.failed) == (4, 1)
    assert sorted(d.to for d in fake.delivered) == [
        a for a in audience.eligible if a != "r3@example.net"
    ]
    # Each recipient's own unsubscribe link and Message-ID reach the provider.
    headers = {d.to: d.headers for d in fake.delivered}
    row = rows(campaign_id)["r1@example.net"]
    assert headers["r1@example.net"]["Message-ID"] == (
        f"<{campaign(campaign_id).token}.{row.id}@example.org>"
    )


def test_a_second_runner_is_refused_while_the_first_holds_the_lease(sqlite_db: str) -> None:
    audience = populated_list(active=2)
    campaign_id = new_campaign(audience)
    with session_scope(write=True) as session:
        take_lease(session, campaign_id, "other-host:4242", now=utcnow(), timeout=30)
    mailbox = Mailbox()
    with smtp_server(mailbox) as port, pytest.raises(LeaseHeldError, match="other-host:4242"):
        run(campaign_id, port)
    assert mailbox.accepted == []


# Helpers


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class RecordingLimiter(RateLimiter):
    """The real limiter, noting what was asked for and when it was granted."""

    def __init__(self, per_second: float, *, clock: FakeClock, sleep: Callable[[float], None]):
        super().__init__(per_second, clock=clock, sleep=sleep)
        self.requests: list[int] = []
        self.granted_at: list[float] = []
        self._clock_now = clock
        self._record = threading.Lock()

    def acquire(self, n: int = 1) -> None:
        super().acquire(n)
        with self._record:
            self.requests.append(n)
            self.granted_at.extend([self._clock_now()] * n)


def elsewhere(action: Callable[[Session], object]) -> Callable[[], None]:
    """`action` in a transaction of its own, as another process would do it."""

    def run_it() -> None:
        with session_scope(write=True) as session:
            action(session)

    return run_it


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
