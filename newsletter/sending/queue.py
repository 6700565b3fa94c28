"""The runner's transactions on the deliveries of one campaign.

- `claim_batch`: the next due pending deliveries in id order become `sending`, in one
  transaction that also re-checks each recipient (still an active member, address not
  suppressed; `skipped` otherwise) and reads the campaign's status, so a pause or cancel
  stops the runner before its next batch.
- `record_results`: a batch's outcomes, in one transaction, with the hard-bounce count
  that suppresses an address.
- `settle_in_flight`: after a crash, `sending` rows become `sent` or `pending` by their
  `committed_at` (see newsletter.sending.journal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    CursorResult,
    Table,
    bindparam,
    case,
    false,
    func,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from newsletter.mail.factory import Addressee
from newsletter.sending.marks import Marks
from newsletter.sending.policy import UNANSWERED, Decision
from newsletter.store.bulk import one_of
from newsletter.store.campaigns import (
    UNSETTLED,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryState,
)
from newsletter.store.models import Membership, Subscriber, SuppressionReason
from newsletter.store.recipients import eligible_query
from newsletter.store.subscriptions import suppress
from newsletter.transports.base import Outcome, Status

SETTLED_SENT = "settled after interruption: the end of data had been sent"
SETTLED_UNANSWERED = (
    f"interrupted after the hand-over, before the server's reply ({UNANSWERED}); "
    "to be sent again, same Message-ID"
)
SETTLED_AGAIN = "interrupted before the end of data; to be sent again"
NO_LONGER_ELIGIBLE = "not sent: unsubscribed or suppressed before its turn"
CANCELLED = "not sent: the campaign was cancelled"

# How soon a runner with nothing to claim looks again while others have rows in flight.
IN_FLIGHT_RECHECK = timedelta(seconds=1)

_table = cast(Table, Delivery.__table__)
_c = _table.c
_subscriber_id = cast(Table, Subscriber.__table__).c.id


@dataclass(frozen=True)
class Claimed:
    addressee: Addressee
    attempts: int
    # Earlier end-of-data dots that got no reply (newsletter.sending.policy.UNANSWERED).
    unanswered: int = 0


@dataclass(frozen=True)
class Claim:
    status: CampaignStatus
    deliveries: list[Claimed]
    # Rows found no longer eligible and skipped by this claim.
    skipped: int = 0
    # Nothing due now: when the next deferred delivery is (None: nothing left at all).
    next_due: datetime | None = None


def claim_batch(
    session: Session, campaign_id: int, *, limit: int, now: datetime, owner: str | None = None
) -> Claim:
    """Up to `limit` due deliveries, now `sending` with `owner` (the runner's name); marks
    the campaign done when nothing is left. Run in a write transaction.

    On PostgreSQL the rows are read `FOR UPDATE SKIP LOCKED`: runners claiming at the
    same moment each get other rows, and none waits for another's claim to commit."""
    campaign = session.execute(
        select(Campaign.status, Campaign.list_id).where(Campaign.id == campaign_id)
    ).one()
    status = CampaignStatus(campaign.status)
    if status is not CampaignStatus.SENDING:
        return Claim(status, [])
    query = (
        select(_c.id, _c.subscriber_id, _c.email, _c.name, _c.attempts, _c.unanswered)
        .where(
            _c.campaign_id == campaign_id,
            _c.state == DeliveryState.PENDING.value,
            (_c.not_before.is_(None)) | (_c.not_before <= now),
        )
        .order_by(_c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    if not rows:
        return _nothing_due(session, campaign_id, now)

    dialect = session.get_bind().dialect
    versions: dict[int, int] = {}
    # Read in the same query as the eligibility, for the merge fields.
    attributes: dict[int, dict[str, Any]] = {}
    if campaign.list_id is not None:
        eligible = session.execute(
            eligible_query(campaign.list_id)
            .with_only_columns(Subscriber.id, Membership.version, Subscriber.attributes)
            .where(one_of(_subscriber_id, [r.subscriber_id for r in rows], dialect))
        )
        for subscriber_id, version, values in eligible:
            versions[subscriber_id] = version
            attributes[subscriber_id] = values or {}
    claimed = [row for row in rows if row.subscriber_id in versions]
    gone = [row.id for row in rows if row.subscriber_id not in versions]
    if gone:
        _set_state(session, gone, DeliveryState.SKIPPED, now, detail=NO_LONGER_ELIGIBLE)
    if claimed:
        _set_state(
            session, [row.id for row in claimed], DeliveryState.SENDING, now, claimed_by=owner
        )
    return Claim(
        status,
        [
            Claimed(
                Addressee(
                    key=row.id,
                    subscriber_id=row.subscriber_id,
                    email=row.email,
                    name=row.name,
                    version=versions[row.subscriber_id],
                    attributes=attributes[row.subscriber_id],
                ),
                row.attempts,
                row.unanswered,
            )
            for row in claimed
        ],
        skipped=len(gone),
    )


def _nothing_due(session: Session, campaign_id: int, now: datetime) -> Claim:
    pending = session.execute(
        select(func.count(), func.min(_c.not_before)).where(
            _c.campaign_id == campaign_id, _c.state == DeliveryState.PENDING.value
        )
    ).one()
    if pending[0]:
        return Claim(CampaignStatus.SENDING, [], next_due=pending[1] or now)
    in_flight = session.scalar(
        select(func.count()).where(
            _c.campaign_id == campaign_id,
            _c.state.in_([state.value for state in UNSETTLED]),
        )
    )
    if in_flight:
        # With other runners (or a dead one, until it is found out): look again shortly;
        # their rows may come back to pending.
        return Claim(CampaignStatus.SENDING, [], next_due=now + IN_FLIGHT_RECHECK)
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.SENDING)
        .values(status=CampaignStatus.DONE, finished_at=now, updated_at=now)
    )
    return Claim(CampaignStatus.DONE, [])


def _set_state(
    session: Session,
    ids: Sequence[int],
    state: DeliveryState,
    now: datetime,
    *,
    detail: str | None = None,
    claimed_by: str | None = None,
) -> None:
    values: dict[str, Any] = {
        "state": state.value,
        "updated_at": now,
        "committed_at": None,
        "handed_over_at": None,
    }
    if detail is not None:
        values["detail"] = detail
    if claimed_by is not None:
        values["claimed_by"] = claimed_by
    session.execute(
        update(_table).where(one_of(_c.id, list(ids), session.get_bind().dialect)).values(**values)
    )


_RECORD = (
    update(_table)
    .where(_c.id == bindparam("b_id"), _c.state == DeliveryState.SENDING.value)
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        not_before=bindparam("b_not_before"),
        # A reader erased while their message was in flight keeps a blank row: the server's
        # words may quote the address (newsletter.store.erasure).
        provider_id=case((_c.subscriber_id.is_(None), None), else_=bindparam("b_provider_id")),
        detail=case((_c.subscriber_id.is_(None), None), else_=bindparam("b_detail")),
        hard_bounce=bindparam("b_hard_bounce"),
        unanswered=bindparam("b_unanswered"),
        # The commit time stays on a sent row (when its end of data went out); any other
        # row was not accepted and must not be settled as sent after a crash.
        committed_at=case((bindparam("b_sent", type_=Boolean()), _c.committed_at), else_=None),
        handed_over_at=case((bindparam("b_sent", type_=Boolean()), _c.handed_over_at), else_=None),
        updated_at=bindparam("b_now"),
    )
)


def record_results(
    session: Session,
    campaign_id: int,
    results: Sequence[tuple[Claimed, Decision]],
    *,
    now: datetime,
    hard_bounce_limit: int,
) -> list[str]:
    """Write a batch's decisions; returns the addresses suppressed for bouncing."""
    if not results:
        return []
    session.execute(
        _RECORD,
        [
            {
                "b_id": claimed.addressee.key,
                "b_state": decision.state.value,
                "b_attempts": decision.attempts,
                "b_not_before": decision.not_before,
                "b_provider_id": decision.provider_id,
                "b_detail": decision.detail,
                "b_hard_bounce": decision.hard_bounce,
                "b_unanswered": decision.unanswered,
                "b_sent": decision.state is DeliveryState.SENT,
                "b_now": now,
            }
            for claimed, decision in results
        ],
    )
    bounced = {
        claimed.addressee.subscriber_id: (claimed.addressee.email, decision.detail)
        for claimed, decision in results
        if decision.hard_bounce
    }
    if not bounced:
        return []
    totals = session.execute(
        select(_c.subscriber_id, func.count())
        .where(_c.hard_bounce == true(), _c.subscriber_id.in_(list(bounced)))
        .group_by(_c.subscriber_id)
    )
    suppressed = []
    for subscriber_id, count in totals:
        if count >= hard_bounce_limit:
            email, reply = bounced[subscriber_id]
            detail = f"{count} hard bounces; the last in campaign {campaign_id}: {reply}"
            if suppress(
                session,
                email,
                SuppressionReason.BOUNCED,
                source=f"campaign:{campaign_id}",
                detail=detail,
            ):
                suppressed.append(email)
    return suppressed


def release(session: Session, keys: Sequence[int], detail: str, now: datetime) -> None:
    """Claimed deliveries that were never tried (the batch was refused as a whole, or the
    server could not be reached) go back to pending as they were, attempts unchanged."""
    if keys:
        _set_state(session, keys, DeliveryState.PENDING, now, detail=detail)


def unclaim(session: Session, keys: Sequence[int], now: datetime) -> None:
    """Claimed deliveries never handed to the transport (the run stopped with them in
    hand) go back to pending, with their attempts and detail as they were."""
    if keys:
        session.execute(
            update(_table)
            .where(
                one_of(_c.id, list(keys), session.get_bind().dialect),
                _c.state == DeliveryState.SENDING.value,
            )
            .values(
                state=DeliveryState.PENDING.value,
                committed_at=None,
                handed_over_at=None,
                updated_at=now,
            )
        )


def settle_in_flight(
    session: Session,
    campaign_id: int,
    now: datetime,
    marked: Marks | None = None,
    *,
    claimed_by: str | None = None,
    unanswered_as_sent: bool = False,
) -> tuple[int, int]:
    """After an interruption: (settled as sent, to be sent again). Only for runners known
    dead (newsletter.sending.lease).

    `claimed_by`: only the rows of that runner; None: every row in flight, when no live
    runner is left. `marked`: that runner's marks, when they could be read (same host);
    otherwise `committed_at` and `handed_over_at` decide (newsletter.sending.journal):
    - handed over (the end of data written, or an API request made): sent;
    - about to be handed over, not known to be: sent again with the same Message-ID and
      counted as may be duplicated, since the sender died right before or right after its
      end of data left (`unanswered_as_sent`: counted as sent instead, for a cancel, which
      sends nothing more);
    - neither: sent again; the server never had it.
    """
    in_flight = (_c.campaign_id == campaign_id) & (_c.state == DeliveryState.SENDING.value)
    if claimed_by is not None:
        in_flight = in_flight & (_c.claimed_by == claimed_by)
    if marked is None:
        return _settle_by_database(session, in_flight, now, unanswered_as_sent)
    rows = session.execute(select(_c.id).where(in_flight)).all()
    gone = [row.id for row in rows if row.id in marked.handed_over]
    unanswered = [row.id for row in rows if row.id in marked.committed]
    if unanswered_as_sent:
        gone, unanswered = gone + unanswered, []
    dialect = session.get_bind().dialect
    sent = again = 0
    if gone:
        sent = _count(
            session.execute(
                update(_table)
                .where(in_flight, one_of(_c.id, gone, dialect))
                .values(state=DeliveryState.SENT.value, detail=SETTLED_SENT, updated_at=now)
            )
        )
    if unanswered:
        again = _count(
            session.execute(
                update(_table)
                .where(in_flight, one_of(_c.id, unanswered, dialect))
                .values(
                    state=DeliveryState.PENDING.value,
                    detail=SETTLED_UNANSWERED,
                    unanswered=_c.unanswered + 1,
                    committed_at=None,
                    handed_over_at=None,
                    updated_at=now,
                )
            )
        )
    again += _count(
        session.execute(
            update(_table)
            .where(in_flight)
            .values(
                state=DeliveryState.PENDING.value,
                detail=SETTLED_AGAIN,
                committed_at=None,
                handed_over_at=None,
                updated_at=now,
            )
        )
    )
    return sent, again


def _settle_by_database(
    session: Session, in_flight: Any, now: datetime, unanswered_as_sent: bool
) -> tuple[int, int]:
    """settle_in_flight by `committed_at` and `handed_over_at`, in one statement: each
    row is judged as it is when the statement reaches it, so a runner that was only
    taken for dead and commits a row meanwhile is either seen here or fenced off by the
    journal (newsletter.sending.journal), never lost between two statements."""
    committed = _c.committed_at.is_not(None)
    gone = committed if unanswered_as_sent else _c.handed_over_at.is_not(None)
    unsure = false() if unanswered_as_sent else committed & _c.handed_over_at.is_(None)
    states = session.execute(
        update(_table)
        .where(in_flight)
        .values(
            state=case((gone, DeliveryState.SENT.value), else_=DeliveryState.PENDING.value),
            detail=case((gone, SETTLED_SENT), (unsure, SETTLED_UNANSWERED), else_=SETTLED_AGAIN),
            unanswered=_c.unanswered + case((unsure, 1), else_=0),
            committed_at=case((gone, _c.committed_at), else_=None),
            handed_over_at=case((gone, _c.handed_over_at), else_=None),
            updated_at=now,
        )
        .returning(_c.state)
    ).scalars()
    settled = [DeliveryState(state) for state in states]
    sent = settled.count(DeliveryState.SENT)
    return sent, len(settled) - sent


def skip_pending(session: Session, campaign_id: int, detail: str, now: datetime) -> int:
    return _count(
        session.execute(
            update(_table)
            .where(_c.campaign_id == campaign_id, _c.state == DeliveryState.PENDING.value)
            .values(state=DeliveryState.SKIPPED.value, detail=detail, updated_at=now)
        )
    )


def _count(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def delivery_span(session: Session, campaign_id: int) -> tuple[int, int]:
    """(first id, number of ids) of the campaign's deliveries, for its mark file."""
    low, high = session.execute(
        select(func.min(_c.id), func.max(_c.id)).where(_c.campaign_id == campaign_id)
    ).one()
    if low is None:
        return 0, 0
    return int(low), int(high) - int(low) + 1


def feed_storm(
    session: Session, campaign_id: int, answered: Sequence[Outcome], *, limit: int
) -> str | None:
    """Count the batch's outcomes into the campaign's run of messages not accepted, which
    all its runners share; the reason to pause once it reaches `limit`."""
    if not answered:
        return None
    trailing = 0
    accepted = False
    last = ""
    for outcome in answered:
        if outcome.status is Status.SENT:
            trailing, accepted = 0, True
        else:
            trailing += 1
            last = outcome.detail
    campaigns = cast(Table, Campaign.__table__).c
    if trailing == 0:
        # The common case writes nothing (and so locks nothing) unless a run was going.
        session.execute(
            update(Campaign)
            .where(campaigns.id == campaign_id, campaigns.failures_in_row != 0)
            .values(failures_in_row=0, last_failure=None)
        )
        return None
    run = trailing
    if not accepted:
        before = session.scalar(
            select(campaigns.failures_in_row).where(campaigns.id == campaign_id).with_for_update()
        )
        run += int(before or 0)
    session.execute(
        update(Campaign)
        .where(campaigns.id == campaign_id)
        .values(failures_in_row=run, last_failure=last)
    )
    if run >= limit:
        return f"{run} messages in a row were not accepted; the last: {last}"
    return None
