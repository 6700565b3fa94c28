"""The campaign runner: claim a batch → build its messages → transport → record, until done.

One runner per campaign at a time (newsletter.sending.lease), on the database of the
engine it is given. On start it settles what a previous runner left in flight
(newsletter.sending.journal), then loops:

1. claim the next due deliveries in id order (one transaction, which also reads the
   campaign's status: a pause or cancel from elsewhere stops the loop here);
2. render each recipient's message from the template built once for the campaign
   (newsletter.mail.factory), DKIM-signed when configured;
3. hand the batch to the transport with the journal and the rate limiter;
4. record the outcomes (one transaction): sent; failed with the server's reply (and the
   hard-bounce count that suppresses an address); or back to pending with a backoff.

Steps 1 and 2 of the next batch overlap step 3 of this one: a batch is claimed before the
one in hand goes out, and built while that one is with the transport (in a thread of its
own). The database is only written between batches, when nothing is in flight. A batch in
hand when the run stops is never sent: it goes back to pending (and a kill leaves it
`sending` without a mark, which the next run settles the same way).

It stops when nothing is left (done), when the campaign is paused or cancelled, on an
error storm (a permanent transport error such as a refused login, or too many messages
in a row not accepted), which pauses the campaign with the reason, or when asked to
(Ctrl-C), which pauses it too. Batches are sized to about two seconds of the rate limit,
so any of these takes effect within a couple of seconds.

An outage is not a storm: messages the server could not be reached for (`unreachable`
outcomes: refused or timed-out connections, connections lost before the end of data,
421) go back to pending as they were, without using an attempt or counting towards the
storm, and the runner waits (1 s, doubled each time, at most 10 s) before its next try.
Only when nothing got through for NEWSLETTER_OUTAGE_WINDOW seconds does it pause.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsletter.core.processes import this_runner
from newsletter.core.settings import Settings
from newsletter.mail.dkim import DkimError, DkimSigner
from newsletter.mail.factory import CampaignMessages, MessageFactory
from newsletter.mail.mime import MessageError
from newsletter.mail.sender import Sender
from newsletter.sending.control import pause_campaign, reopen_campaign
from newsletter.sending.journal import DeliveryJournal, Heartbeat
from newsletter.sending.lease import (
    LeaseState,
    dead_runners,
    release_lease,
    renew_lease,
    runners,
    take_lease,
)
from newsletter.sending.marks import (
    MarkFile,
    discard_marks,
    marks_folder,
    marks_path,
    previous_marks,
)
from newsletter.sending.policy import Decision, OutageWatch, RetryPolicy, decide
from newsletter.sending.queue import CANCELLED as CANCELLED_DETAIL
from newsletter.sending.queue import (
    Claim,
    Claimed,
    claim_batch,
    delivery_span,
    feed_storm,
    record_results,
    release,
    settle_in_flight,
    skip_pending,
    unclaim,
)
from newsletter.sending.ratelimit import RateLimit
from newsletter.store import session_scope
from newsletter.store.campaigns import (
    Campaign,
    CampaignStatus,
    DeliveryState,
    campaign_issue,
    campaign_status,
    delivery_counts,
    get_campaign,
    left_of,
    may_be_duplicated,
)
from newsletter.store.types import utcnow
from newsletter.transports.base import Outcome, OutgoingMessage, Status, Transport, TransportError

# Longest single sleep while waiting for retries or the hourly cap, so a pause from
# elsewhere or Ctrl-C is noticed within about this long.
_NAP = 1.0
# Seconds of sending at the configured rate one batch may take.
_BATCH_SECONDS = 2.0


@dataclass
class Tally:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    # Pending or in flight.
    left: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.failed + self.skipped + self.left

    @classmethod
    def of(cls, counts: dict[DeliveryState, int]) -> Tally:
        return cls(
            sent=counts[DeliveryState.SENT],
            failed=counts[DeliveryState.FAILED],
            skipped=counts[DeliveryState.SKIPPED],
            left=left_of(counts),
        )


@dataclass(frozen=True)
class Progress:
    tally: Tally
    # Set while nothing is due: the earliest deferred delivery.
    waiting_until: datetime | None = None
    # Set while the server cannot be reached: when the next try is.
    unreachable_until: datetime | None = None


@dataclass
class RunResult:
    campaign_id: int
    status: CampaignStatus
    reason: str | None
    tally: Tally
    # Deliveries a previous runner left in flight: settled as sent / sent again.
    settled_sent: int = 0
    resent: int = 0
    suppressed: list[str] = field(default_factory=list)
    # The campaign's deliveries sent again after an end of data got no reply.
    may_be_duplicated: int = 0


@dataclass
class _Batch:
    """Claimed deliveries, their messages made: what goes to the transport in one call."""

    built: list[tuple[Claimed, OutgoingMessage]] = field(default_factory=list)
    # Those whose message could not be made: failed without being sent.
    failed: list[tuple[Claimed, Decision]] = field(default_factory=list)

    @property
    def keys(self) -> list[int]:
        return [claimed.addressee.key for claimed, _ in (*self.built, *self.failed)]


class StopRequest:
    """Asks a run to stop after the batch in flight and pause the campaign with a reason;
    set from another thread or a signal handler (Ctrl-C)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def request(self, reason: str) -> None:
        self.reason = reason
        self._event.set()


class Runner:
    def __init__(
        self,
        campaign_id: int,
        transport: Transport,
        *,
        settings: Settings,
        engine: Engine,
        limiter: RateLimit | None = None,
        signer: DkimSigner | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        owner: str | None = None,
        stop: StopRequest | None = None,
        shared: bool = False,
    ) -> None:
        self.campaign_id = campaign_id
        self.transport = transport
        self.settings = settings
        self.engine = engine
        self.limiter = limiter
        self.signer = signer if transport.wants_raw else None
        self.on_progress = on_progress
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter
        self.owner = owner or this_runner()
        # A worker, beside others on the same campaign (newsletter.sending.lease).
        self.shared = shared
        self.policy = RetryPolicy(
            max_attempts=settings.send_max_attempts,
            base=settings.send_retry_base,
            cap=max(settings.send_retry_base, settings.send_retry_max),
        )
        self.batch_size = batch_size(
            settings.send_batch_size or transport.max_batch,
            limiter.per_second if limiter is not None else 0.0,
        )
        self.outage = OutageWatch(settings.outage_window)
        self.stop = stop or StopRequest()

    @property
    def stop_requested(self) -> bool:
        return self.stop.requested

    def request_stop(self, reason: str) -> None:
        """Stop after the current batch and pause the campaign with `reason`."""
        self.stop.request(reason)

    def run(self, *, resume: bool = False) -> RunResult:
        """Send what is left; `resume` reopens a paused campaign first.

        The lease is released when the run ends normally (done, paused, cancelled). After
        an exception it is kept, with the mark file, as a kill would leave them: the next
        run settles what was in flight the same way.
        """
        now = self.clock()
        folder = marks_folder(self.settings)
        with session_scope(self.engine, write=True) as session:
            gone = take_lease(
                session,
                self.campaign_id,
                self.owner,
                now=now,
                timeout=self.settings.send_lease_timeout,
                shared=self.shared,
            )
            campaign = (
                reopen_campaign(session, self.campaign_id, now=now)
                if resume
                else get_campaign(session, self.campaign_id)
            )
            alone = len(runners(session, self.campaign_id)) == 1
            settled, resent = settle_runners(
                session, self.campaign_id, gone, folder, now=now, alone=alone
            )
            span = delivery_span(session, self.campaign_id)
            status = campaign.status
            result = RunResult(
                self.campaign_id,
                status,
                campaign.pause_reason,
                Tally.of(delivery_counts(session, self.campaign_id)),
                settled_sent=settled,
                resent=resent,
            )
            source = _messages_of(campaign, session)
        if status is CampaignStatus.SENDING:
            self._report(result.tally)
            marks = MarkFile(marks_path(folder, self.campaign_id, self.owner), *span)
            try:
                self._loop(source, result, marks)
            except BaseException:
                marks.close()
                raise
            marks.close(delete=True)
        with session_scope(self.engine, write=True) as session:
            release_lease(session, self.campaign_id, self.owner)
            result.may_be_duplicated = may_be_duplicated(session, self.campaign_id).get(
                self.campaign_id, 0
            )
        return result

    # The loop

    def _loop(self, source: CampaignMessages, result: RunResult, marks: MarkFile) -> None:
        """Claim, build, send, record, with one batch in hand: while a batch is with the
        transport (in the courier thread), the next one, claimed before it went, is built
        here, so the connections do not sit idle while messages are rendered. Database
        work happens only between batches, when nothing is in flight, so it never holds
        up a journal commit (SQLite has one writer at a time)."""
        factory = MessageFactory(
            source,
            key=self.settings.signing_key(),
            raw=self.transport.wants_raw,
            signer=self.signer,
        )
        journal = DeliveryJournal(
            self.engine, self.campaign_id, self.owner, marks=marks, clock=self.clock
        )
        interval = min(5.0, self.settings.send_lease_timeout / 4)
        courier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="courier")
        # Claimed and built, not yet handed to the transport.
        ready: _Batch | None = None
        try:
            with Heartbeat(journal, interval):
                while True:
                    if self.stop.requested:
                        self._unclaim(ready)
                        self._pause(result, self.stop.reason)
                        return
                    self._wait_for_hourly_cap()
                    claim = self._claim(result, ready)
                    if claim is None:
                        return
                    if ready is None:
                        if claim.deliveries:
                            ready = self._build(factory, journal, claim.deliveries)
                        else:
                            self._wait_until_due(claim, result.tally)
                        continue
                    in_flight = courier.submit(self._send, factory, journal, ready)
                    following = (
                        self._build(factory, journal, claim.deliveries)
                        if claim.deliveries
                        else None
                    )
                    if self._record(ready, in_flight.result(), result):
                        self._unclaim(following)
                        return
                    self._wait_out_outage(result.tally)
                    ready = following
        finally:
            # After an exception a batch may still be in flight: as after a kill, the
            # closed journal stops it before its next end of data.
            courier.shutdown(wait=False)
            journal.close()

    def _claim(self, result: RunResult, ready: _Batch | None) -> Claim | None:
        """The next due deliveries, or None when the run is over (result.status says why):
        then the batch in hand, never sent, goes back to pending."""
        tally = result.tally
        now = self.clock()
        with session_scope(self.engine, write=True) as session:
            renew_lease(session, self.campaign_id, self.owner, now=now)
            if self.shared:
                dead = dead_runners(
                    session,
                    self.campaign_id,
                    self.owner,
                    now=now,
                    timeout=self.settings.send_lease_timeout,
                )
                if dead:
                    settled, resent = settle_runners(
                        session,
                        self.campaign_id,
                        dead,
                        marks_folder(self.settings),
                        now=now,
                        alone=False,
                    )
                    result.settled_sent += settled
                    result.resent += resent
            claim = claim_batch(
                session, self.campaign_id, limit=self.batch_size, now=now, owner=self.owner
            )
            if claim.status is not CampaignStatus.SENDING and ready is not None:
                unclaim(session, ready.keys, now)
            if claim.status is CampaignStatus.CANCELLED:
                # Deliveries that went back to pending after the cancel (retries).
                tally.skipped += skip_pending(session, self.campaign_id, CANCELLED_DETAIL, now)
        tally.skipped += claim.skipped
        tally.left -= claim.skipped
        if claim.status is CampaignStatus.SENDING:
            return claim
        result.status = claim.status
        if claim.status is CampaignStatus.CANCELLED:
            tally.left = 0
        if claim.status is CampaignStatus.PAUSED:
            with session_scope(self.engine) as session:
                result.reason = get_campaign(session, self.campaign_id).pause_reason
        self._report(tally)
        return None

    def _wait_until_due(self, claim: Claim, tally: Tally) -> None:
        due = claim.next_due or self.clock()
        self._report(tally, waiting_until=due)
        self.sleep(min(max((due - self.clock()).total_seconds(), 0.01), _NAP))

    def _build(
        self, factory: MessageFactory, journal: DeliveryJournal, deliveries: list[Claimed]
    ) -> _Batch:
        """The batch's messages, and a failed decision for each that cannot be made."""
        journal.reset(*(claimed.addressee.key for claimed in deliveries))
        batch = _Batch()
        for claimed in deliveries:
            try:
                batch.built.append((claimed, factory.build(claimed.addressee)))
            except (MessageError, DkimError) as exc:
                batch.failed.append(
                    (
                        claimed,
                        Decision(
                            DeliveryState.FAILED,
                            claimed.attempts,
                            None,
                            f"the message could not be made: {exc}",
                            unanswered=claimed.unanswered,
                        ),
                    )
                )
        return batch

    def _send(
        self, factory: MessageFactory, journal: DeliveryJournal, batch: _Batch
    ) -> list[Outcome] | TransportError:
        """The transport's outcomes for the batch (in the courier thread), or the permanent
        error that refused all of it."""
        built = batch.built
        if not built:
            return []
        try:
            outcomes = self.transport.send_batch(
                factory.content, [message for _, message in built], journal, self.limiter
            )
        except TransportError as exc:
            if exc.permanent:
                return exc
            outcome = Outcome(
                Status.RETRY,
                detail=str(exc),
                retry_after=exc.retry_after,
                unreachable=exc.unreachable,
            )
            outcomes = [outcome] * len(built)
        if len(outcomes) != len(built):
            raise RuntimeError(
                f"transport {self.transport.name} answered {len(outcomes)} outcomes "
                f"for {len(built)} messages"
            )
        return outcomes

    def _record(
        self,
        batch: _Batch,
        sent: list[Outcome] | TransportError,
        result: RunResult,
    ) -> bool:
        """Write what became of a batch; True when the run is over (result.status says why)."""
        if isinstance(sent, TransportError):
            return self._refused(result, batch, sent)
        tally = result.tally
        done = self.clock()
        decided = list(batch.failed)
        # Not tried for want of a server: back to pending as they were (see the docstring).
        unreachable: list[int] = []
        answered: list[Outcome] = []
        for (claimed, _), outcome in zip(batch.built, sent, strict=True):
            if outcome.status is Status.RETRY and outcome.unreachable:
                unreachable.append(claimed.addressee.key)
                continue
            answered.append(outcome)
            decision = decide(
                outcome,
                claimed.attempts,
                self.policy,
                now=done,
                jitter=self.jitter(),
                unanswered_before=claimed.unanswered,
            )
            decided.append((claimed, decision))
        reason = self.outage.feed(sent, done)
        with session_scope(self.engine, write=True) as session:
            renew_lease(session, self.campaign_id, self.owner, now=done)
            reason = (
                feed_storm(
                    session,
                    self.campaign_id,
                    answered,
                    limit=self.settings.send_pause_after_failures,
                )
                or reason
            )
            if unreachable:
                detail = next(o.detail for o in sent if o.unreachable)
                release(
                    session, unreachable, f"not sent, the server is unreachable: {detail}", done
                )
            result.suppressed += record_results(
                session,
                self.campaign_id,
                decided,
                now=done,
                hard_bounce_limit=self.settings.hard_bounce_limit,
            )
            if reason is not None:
                pause_campaign(session, self.campaign_id, reason, now=done)
        for _, decision in decided:
            if decision.state is DeliveryState.SENT:
                tally.sent += 1
                tally.left -= 1
            elif decision.state is DeliveryState.FAILED:
                tally.failed += 1
                tally.left -= 1
        self._report(tally)
        if reason is not None:
            result.status, result.reason = CampaignStatus.PAUSED, reason
            return True
        return False

    def _refused(self, result: RunResult, batch: _Batch, error: TransportError) -> bool:
        """A permanent error for the whole batch: nothing went out; pause with the reason."""
        now = self.clock()
        reason = str(error)
        with session_scope(self.engine, write=True) as session:
            renew_lease(session, self.campaign_id, self.owner, now=now)
            release(session, [c.addressee.key for c, _ in batch.built], f"not sent: {reason}", now)
            record_results(
                session,
                self.campaign_id,
                batch.failed,
                now=now,
                hard_bounce_limit=self.settings.hard_bounce_limit,
            )
            pause_campaign(session, self.campaign_id, reason, now=now)
        result.tally.failed += len(batch.failed)
        result.tally.left -= len(batch.failed)
        result.status, result.reason = CampaignStatus.PAUSED, reason
        self._report(result.tally)
        return True

    def _unclaim(self, batch: _Batch | None) -> None:
        if batch is not None:
            with session_scope(self.engine, write=True) as session:
                unclaim(session, batch.keys, self.clock())

    def _pause(self, result: RunResult, reason: str) -> None:
        with session_scope(self.engine, write=True) as session:
            paused = pause_campaign(session, self.campaign_id, reason, now=self.clock())
            if not paused:
                reason = get_campaign(session, self.campaign_id).pause_reason or reason
        result.status, result.reason = CampaignStatus.PAUSED, reason

    def _wait_out_outage(self, tally: Tally) -> None:
        """While the server cannot be reached, wait before the next try, in naps, so a
        pause from elsewhere or Ctrl-C still takes effect."""
        delay = self.outage.delay(self.clock())
        if delay <= 0:
            return
        until = self.clock() + timedelta(seconds=delay)
        self._report(tally, unreachable_until=until)
        while not self.stop.requested:
            left = (until - self.clock()).total_seconds()
            if left <= 0:
                return
            self.sleep(min(left, _NAP))
            with session_scope(self.engine) as session:
                if campaign_status(session, self.campaign_id) is not CampaignStatus.SENDING:
                    return

    def _wait_for_hourly_cap(self) -> None:
        """Wait out a long limiter wait here, in naps, rather than inside the transport,
        so a pause or Ctrl-C still takes effect (the per-second wait is always short)."""
        if self.limiter is None:
            return
        while not self.stop.requested:
            wait = self.limiter.would_wait(1)
            if wait <= _NAP:
                return
            self.sleep(_NAP)

    def _report(
        self,
        tally: Tally,
        *,
        waiting_until: datetime | None = None,
        unreachable_until: datetime | None = None,
    ) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(Tally(**vars(tally)), waiting_until, unreachable_until))


def settle_runners(
    session: Session,
    campaign_id: int,
    gone: list[LeaseState],
    folder: Path,
    *,
    now: datetime,
    alone: bool,
) -> tuple[int, int]:
    """Settle what the dead runners `gone` left in flight: (settled as sent, to be sent
    again). Each by its own mark file where this host can read it, by `committed_at`
    otherwise. `alone`: no other runner lives, so every row still in flight is a dead
    one's, including rows from before runners were named on them."""
    sent = again = 0
    for state in gone:
        if state.owner is None:
            continue
        marked = previous_marks(folder, campaign_id, state.owner)
        one_sent, one_again = settle_in_flight(
            session, campaign_id, now, marked, claimed_by=state.owner
        )
        sent, again = sent + one_sent, again + one_again
        # Settled: what its marks said is in the database now.
        discard_marks(folder, campaign_id, state.owner)
    if alone:
        one_sent, one_again = settle_in_flight(session, campaign_id, now, None)
        sent, again = sent + one_sent, again + one_again
    return sent, again


def batch_size(base: int, per_second: float) -> int:
    """The transport's batch, cut to about `_BATCH_SECONDS` of sending at the rate limit."""
    if per_second > 0:
        return max(1, min(base, math.ceil(per_second * _BATCH_SECONDS)))
    return max(1, base)


def _messages_of(campaign: Campaign, session: Session) -> CampaignMessages:
    return CampaignMessages(
        campaign_id=campaign.id,
        token=campaign.token,
        list_id=campaign.list_id or 0,
        list_name=campaign.list_name,
        issue=campaign_issue(session, campaign),
        sender=Sender(
            from_address=campaign.from_address,
            reply_to=campaign.reply_to,
            return_path=campaign.return_path,
            unsubscribe_mailto=campaign.unsubscribe_mailto,
            public_url=campaign.public_url,
        ),
    )
