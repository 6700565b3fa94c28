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
    lease_state,
    release_lease,
    renew_lease,
    take_lease,
)
from newsletter.store.types import utcnow
from tests.sending.helpers import new_campaign, populated_list
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
    with session_scope() as session:
        return lease_state(session, campaign_id).owner


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
