from __future__ import annotations

import threading
from datetime import timedelta

from newsletter.store.forwards import ForwardLimits, ForwardOutcome, claim_forward
from newsletter.store.models import SuppressionReason
from newsletter.store.subscriptions import suppress
from tests.store.databases import session_scope
from tests.web.helpers import new_campaign, new_list, new_member, rows

LIMITS = ForwardLimits(per_subscriber=5, per_ip=20, window=timedelta(hours=1))


def _claim(
    campaign_id: int,
    subscriber_id: int,
    friend: str,
    ip: str = "192.0.2.1",
    limits: ForwardLimits = LIMITS,
) -> str:
    with session_scope(write=True) as session:
        return claim_forward(
            session,
            campaign_id=campaign_id,
            subscriber_id=subscriber_id,
            friend=friend,
            ip=ip,
            limits=limits,
        ).outcome.value


def test_concurrent_requests_for_one_friend_claim_it_once(db: str) -> None:
    list_id = new_list("members")
    member = new_member("ana@example.org", list_id)
    campaign = new_campaign(list_id)
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def claim() -> None:
        start.wait()
        outcomes.append(_claim(campaign.id, member.subscriber_id, "friend@example.org"))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["already"] * 5 + ["send"]
    assert rows("SELECT friend_key, state FROM forwards") == [("friend@example.org", "sending")]


def test_limits_count_per_forwarder_and_per_client_address(db: str) -> None:
    list_id = new_list("members")
    ana = new_member("ana@example.org", list_id)
    bo = new_member("bo@example.org", list_id)
    campaign = new_campaign(list_id)
    limits = ForwardLimits(per_subscriber=2, per_ip=3, window=timedelta(hours=1))

    def claim(subscriber_id: int, friend: str, ip: str = "192.0.2.1") -> str:
        return _claim(campaign.id, subscriber_id, friend, ip, limits)

    assert claim(ana.subscriber_id, "f0@example.org") == "send"
    assert claim(ana.subscriber_id, "f1@example.org") == "send"
    assert claim(ana.subscriber_id, "f2@example.org", ip="192.0.2.2") == "limited"
    assert claim(bo.subscriber_id, "g0@example.org") == "send"
    assert claim(bo.subscriber_id, "g1@example.org") == "limited"  # three from 192.0.2.1
    assert claim(bo.subscriber_id, "g1@example.org", ip="192.0.2.2") == "send"
    assert len(rows("SELECT id FROM forwards")) == 4


def test_a_suppressed_friend_is_recorded_but_withheld(db: str) -> None:
    list_id = new_list("members")
    member = new_member("ana@example.org", list_id)
    campaign = new_campaign(list_id)
    with session_scope(write=True) as session:
        suppress(session, "Gone@example.org", SuppressionReason.BOUNCED, source="test")

    assert _claim(campaign.id, member.subscriber_id, "gone@example.org") == ForwardOutcome.WITHHELD
    assert _claim(campaign.id, member.subscriber_id, "gone@example.org") == ForwardOutcome.ALREADY
