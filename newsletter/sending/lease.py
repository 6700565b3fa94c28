"""Who is sending a campaign: one row per runner in campaign_runners, so that runners
never tread on each other's deliveries.

A runner joins a campaign by writing its name ("host:pid") there, and refreshes its
heartbeat every few seconds. It joins either
- alone (`shared=False`: `newsletter send`, `campaigns resume`, the staff area without a
  broker), refused with LeaseHeldError while any other live runner works on the campaign;
- or shared (a worker, newsletter.sending.worker), beside other shared runners: each
  claims its own batches (newsletter.sending.queue), and the deliveries it holds are
  marked with its name.

A runner is dead
- at once, when it ran on this host and its process is gone (killed, crashed);
- otherwise only once its heartbeat is older than the lease timeout, since a process on
  another host cannot be checked and may only be slow.

A dead runner's row is removed by whichever runner finds it first (when it joins, and
before each batch it claims), in the same transaction that settles the deliveries it left
in flight (newsletter.sending.journal). The row is locked first, so two runners never
settle the same one, and a runner whose row is gone stops at its next transaction
(LeaseLostError) rather than write over rows that are no longer its.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from newsletter.core.errors import NewsletterError
from newsletter.core.processes import owner_is_gone
from newsletter.store.campaigns import Campaign, CampaignRunner


class LeaseHeldError(NewsletterError):
    def __init__(self, campaign_id: int, owner: str, heartbeat: datetime, now: datetime) -> None:
        self.owner = owner
        age = max(0.0, (now - heartbeat).total_seconds())
        super().__init__(
            f"campaign {campaign_id} is being sent by {owner} (last heartbeat {age:.0f} s ago); "
            "wait for it to finish, pause it, or try again once it has stopped"
        )


@dataclass(frozen=True)
class LeaseState:
    owner: str | None
    heartbeat: datetime | None
    shared: bool = False

    def is_live(self, now: datetime, timeout: float) -> bool:
        """Whether a runner may still be working under this lease."""
        if self.owner is None or self.heartbeat is None:
            return False
        if owner_is_gone(self.owner):
            return False
        return now - self.heartbeat < timedelta(seconds=timeout)


def runners(session: Session, campaign_id: int, *, lock: bool = False) -> list[LeaseState]:
    """The campaign's runners, live or dead, by name."""
    query = (
        select(CampaignRunner.owner, CampaignRunner.heartbeat, CampaignRunner.shared)
        .where(CampaignRunner.campaign_id == campaign_id)
        .order_by(CampaignRunner.owner)
    )
    if lock:
        query = query.with_for_update()
    return [LeaseState(row.owner, row.heartbeat, row.shared) for row in session.execute(query)]


def any_live(
    found: list[LeaseState] | tuple[tuple[str, datetime], ...], now: datetime, timeout: float
) -> bool:
    """Whether any of these runners may still be working."""
    return any(
        (state if isinstance(state, LeaseState) else LeaseState(*state)).is_live(now, timeout)
        for state in found
    )


def take_lease(
    session: Session,
    campaign_id: int,
    owner: str,
    *,
    now: datetime,
    timeout: float,
    shared: bool = False,
) -> list[LeaseState]:
    """Make `owner` one of the campaign's runners, or raise LeaseHeldError naming a live
    one it may not work beside.

    Returns the runners found dead, now removed (with `owner`'s own earlier row, when it
    left one): the caller settles the deliveries they left in flight in this transaction.

    Call in a write transaction (session_scope(write=True)): on SQLite that takes the
    database's write lock first; on PostgreSQL the campaign's row is locked here, so two
    runners joining at once see each other.
    """
    session.execute(select(Campaign.id).where(Campaign.id == campaign_id).with_for_update())
    found = runners(session, campaign_id, lock=True)
    others = [state for state in found if state.owner != owner and state.is_live(now, timeout)]
    blocking = [state for state in others if not (shared and state.shared)]
    if blocking:
        state = blocking[0]
        assert state.owner is not None and state.heartbeat is not None
        raise LeaseHeldError(campaign_id, state.owner, state.heartbeat, now)
    gone = [state for state in found if state not in others]
    _remove(session, campaign_id, [state.owner for state in gone if state.owner is not None])
    session.add(CampaignRunner(campaign_id=campaign_id, owner=owner, heartbeat=now, shared=shared))
    session.flush()
    return gone


def dead_runners(
    session: Session, campaign_id: int, owner: str, *, now: datetime, timeout: float
) -> list[LeaseState]:
    """The campaign's other runners that are dead, locked and removed: the caller, a live
    runner, settles what they left in flight in this transaction."""
    cutoff = now - timedelta(seconds=timeout)
    rows = session.execute(
        select(CampaignRunner.owner, CampaignRunner.heartbeat, CampaignRunner.shared).where(
            CampaignRunner.campaign_id == campaign_id, CampaignRunner.owner != owner
        )
    ).all()
    suspects = [row.owner for row in rows if row.heartbeat < cutoff or owner_is_gone(row.owner)]
    if not suspects:
        return []
    # Locked and read again: a runner whose heartbeat committed meanwhile is not dead.
    locked = session.execute(
        select(CampaignRunner.owner, CampaignRunner.heartbeat, CampaignRunner.shared)
        .where(CampaignRunner.campaign_id == campaign_id, CampaignRunner.owner.in_(suspects))
        .with_for_update(skip_locked=True)
    ).all()
    dead = [
        LeaseState(row.owner, row.heartbeat, row.shared)
        for row in locked
        if not LeaseState(row.owner, row.heartbeat).is_live(now, timeout)
    ]
    _remove(session, campaign_id, [state.owner for state in dead if state.owner is not None])
    return dead


def _remove(session: Session, campaign_id: int, owners: list[str]) -> None:
    if owners:
        session.execute(
            delete(CampaignRunner).where(
                CampaignRunner.campaign_id == campaign_id, CampaignRunner.owner.in_(owners)
            )
        )


def release_lease(session: Session, campaign_id: int, owner: str) -> None:
    _remove(session, campaign_id, [owner])


class LeaseLostError(NewsletterError):
    def __init__(self, campaign_id: int) -> None:
        super().__init__(
            f"campaign {campaign_id} was taken over by another runner (this one had not "
            "been heard from for longer than NEWSLETTER_SEND_LEASE_TIMEOUT); stopping"
        )


def renew_lease(session: Session, campaign_id: int, owner: str, *, now: datetime) -> None:
    """Refresh the heartbeat in the caller's transaction, or raise LeaseLostError.

    The runner does this at the start of every transaction that moves deliveries, so a
    runner declared dead never writes over rows that another has settled since.
    """
    result = session.execute(
        update(CampaignRunner)
        .where(CampaignRunner.campaign_id == campaign_id, CampaignRunner.owner == owner)
        .values(heartbeat=now)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise LeaseLostError(campaign_id)
