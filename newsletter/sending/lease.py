"""Who is sending a campaign: a lease, so two runners never work on one campaign at once.

The runner holding the lease writes its name ("host:pid") and refreshes a heartbeat
every few seconds. Another runner may take the lease over
- at once, when the holder ran on this host and its process is gone (killed, crashed);
- otherwise only once the heartbeat is older than the lease timeout, since a process on
  another host cannot be checked and may only be slow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.core.errors import NewsletterError
from newsletter.core.processes import owner_is_gone
from newsletter.store.campaigns import Campaign


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

    def is_live(self, now: datetime, timeout: float) -> bool:
        """Whether a runner may still be working under this lease."""
        if self.owner is None or self.heartbeat is None:
            return False
        if owner_is_gone(self.owner):
            return False
        return now - self.heartbeat < timedelta(seconds=timeout)


def lease_state(session: Session, campaign_id: int, *, lock: bool = False) -> LeaseState:
    query = select(Campaign.lease_owner, Campaign.lease_heartbeat).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).one()
    return LeaseState(row.lease_owner, row.lease_heartbeat)


def take_lease(
    session: Session, campaign_id: int, owner: str, *, now: datetime, timeout: float
) -> LeaseState:
    """Make `owner` the campaign's runner, or raise LeaseHeldError naming the live one.

    Returns the lease as it was: its owner, if any, is the runner that stopped without
    releasing it, whose deliveries in flight are to be settled.

    Call in a write transaction (session_scope(write=True)): on SQLite that takes the
    database's write lock first, on PostgreSQL the row is locked here.
    """
    state = lease_state(session, campaign_id, lock=True)
    if state.owner not in (None, owner) and state.is_live(now, timeout):
        assert state.owner is not None and state.heartbeat is not None
        raise LeaseHeldError(campaign_id, state.owner, state.heartbeat, now)
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(lease_owner=owner, lease_heartbeat=now)
    )
    return state


def release_lease(session: Session, campaign_id: int, owner: str) -> None:
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.lease_owner == owner)
        .values(lease_owner=None, lease_heartbeat=None)
    )


class LeaseLostError(NewsletterError):
    def __init__(self, campaign_id: int) -> None:
        super().__init__(
            f"campaign {campaign_id} was taken over by another runner (this one had not "
            "been heard from for longer than NEWSLETTER_SEND_LEASE_TIMEOUT); stopping"
        )


def renew_lease(session: Session, campaign_id: int, owner: str, *, now: datetime) -> None:
    """Refresh the heartbeat in the caller's transaction, or raise LeaseLostError.

    The runner does this at the start of every transaction that moves deliveries, so a
    runner that lost its lease never writes over the new owner's rows.
    """
    result = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.lease_owner == owner)
        .values(lease_heartbeat=now)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise LeaseLostError(campaign_id)
