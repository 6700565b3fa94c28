from __future__ import annotations

import os
import socket
import subprocess
import time
from datetime import timedelta

import pytest

from newsletter.core.processes import owner_is_gone, process_is_gone, this_runner
from newsletter.sending.lease import (
    LeaseHeldError,
    LeaseLostError,
    dead_runners,
    release_lease,
    renew_lease,
    runners,
    take_lease,
)
from newsletter.store.types import utcnow
from tests.sending.helpers import leave_runner, new_campaign, populated_list
from tests.store.databases import session_scope

HOST = socket.gethostname()


def take(campaign_id: int, owner: str, *, seconds_later: float = 0.0) -> None:
    with session_scope(write=True) as session:
        take_lease(
            session,
            campaign_id,
            owner,
            now=utcnow() + timedelta(seconds=seconds_later),
            timeout=60,
        )


def owner_of(campaign_id: int) -> str | None:
    """The only runner of the campaign (None: no runner)."""
    with session_scope() as session:
        found = runners(session, campaign_id)
    assert len(found) <= 1, found
    return found[0].owner if found else None


def test_a_live_lease_on_another_host_is_waited_out(db: str) -> None:
    campaign_id = new_campaign(populated_list(active=1))
    take(campaign_id, "mail-1:100")
    with pytest.raises(LeaseHeldError, match=r"being sent by mail-1:100 \(last heartbeat"):
        take(campaign_id, "mail-2:200")
    # Taking it again is harmless for its owner.
    take(campaign_id, "mail-1:100")
    # Without a heartbeat for longer than the timeout, another runner takes over.
    take(campaign_id, "mail-2:200", seconds_later=61)
    assert owner_of(campaign_id) == "mail-2:200"


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over_at_once(db: str) -> None:
    campaign_id = new_campaign(populated_list(active=1))
    finished = subprocess.Popen(["true"])
    finished.wait()
    take(campaign_id, f"{HOST}:{finished.pid}")
    take(campaign_id, this_runner())
    assert owner_of(campaign_id) == this_runner()
    # A live process on this host is waited for like any other.
    with pytest.raises(LeaseHeldError):
        take(campaign_id, f"{HOST}:{os.getppid()}")


def test_renewing_a_lost_lease_stops_the_runner(sqlite_db: str) -> None:
    campaign_id = new_campaign(populated_list(active=1))
    take(campaign_id, "mail-1:100")
    with session_scope(write=True) as session:
        renew_lease(session, campaign_id, "mail-1:100", now=utcnow())
    take(campaign_id, "mail-2:200", seconds_later=120)
    with pytest.raises(LeaseLostError, match="taken over"), session_scope(write=True) as session:
        renew_lease(session, campaign_id, "mail-1:100", now=utcnow())
    with session_scope(write=True) as session:
        # Releasing someone else's lease does nothing.
        release_lease(session, campaign_id, "mail-1:100")
    assert owner_of(campaign_id) == "mail-2:200"
    with session_scope(write=True) as session:
        release_lease(session, campaign_id, "mail-2:200")
    assert owner_of(campaign_id) is None


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 5
        while not process_is_gone(child.pid):
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
    finally:
        child.wait()
    assert not process_is_gone(os.getpid())


def test_only_owners_on_this_host_can_be_checked() -> None:
    assert not owner_is_gone(f"{HOST}:{os.getpid()}")
    assert not owner_is_gone("some-other-host:1")
    assert not owner_is_gone("garbage")


def join(campaign_id: int, owner: str, *, seconds_later: float = 0.0) -> list[str | None]:
    """`owner` joins as a worker; the runners it found dead."""
    with session_scope(write=True) as session:
        gone = take_lease(
            session,
            campaign_id,
            owner,
            now=utcnow() + timedelta(seconds=seconds_later),
            timeout=60,
            shared=True,
        )
    return [state.owner for state in gone]


def owners_of(campaign_id: int) -> list[str | None]:
    with session_scope() as session:
        return [state.owner for state in runners(session, campaign_id)]


def test_workers_share_a_campaign_but_a_runner_alone_does_not(db: str) -> None:
    audience = populated_list(active=1)
    campaign_id = new_campaign(audience)
    assert join(campaign_id, "mail-1:100") == []
    assert join(campaign_id, "mail-2:200") == []
    assert owners_of(campaign_id) == ["mail-1:100", "mail-2:200"]
    # `newsletter send` or `campaigns resume` sends alone: refused while workers live.
    with pytest.raises(LeaseHeldError, match="being sent by mail-1:100"):
        take(campaign_id, "mail-3:300")
    other = new_campaign(audience)
    take(other, "mail-3:300")
    # And a worker does not join a campaign sent by a runner alone.
    with pytest.raises(LeaseHeldError, match="being sent by mail-3:300"):
        join(other, "mail-1:100")


def test_a_worker_joining_removes_the_dead_and_hands_them_to_be_settled(db: str) -> None:
    campaign_id = new_campaign(populated_list(active=1))
    finished = subprocess.Popen(["true"])
    finished.wait()
    join(campaign_id, "mail-1:100")
    leave_runner(campaign_id, f"{HOST}:{finished.pid}", utcnow(), shared=True)
    # 61 s on: mail-1 has not been heard from for longer than the timeout; the process on
    # this host is gone at once.
    assert sorted(str(o) for o in join(campaign_id, "mail-2:200", seconds_later=61)) == sorted(
        [f"{HOST}:{finished.pid}", "mail-1:100"]
    )
    assert owners_of(campaign_id) == ["mail-2:200"]


def test_a_live_worker_finds_the_dead_ones_and_only_those(db: str) -> None:
    campaign_id = new_campaign(populated_list(active=1))
    for owner in ("mail-1:100", "mail-2:200", "mail-3:300"):
        join(campaign_id, owner)
    later = utcnow() + timedelta(seconds=61)
    with session_scope(write=True) as session:
        # mail-3 kept its heartbeat; mail-2 did not.
        renew_lease(session, campaign_id, "mail-3:300", now=later)
        dead = dead_runners(session, campaign_id, "mail-1:100", now=later, timeout=60)
    assert [state.owner for state in dead] == ["mail-2:200"]
    assert owners_of(campaign_id) == ["mail-1:100", "mail-3:300"]
    # A runner taken for dead stops at its next transaction.
    with pytest.raises(LeaseLostError), session_scope(write=True) as session:
        renew_lease(session, campaign_id, "mail-2:200", now=later)
