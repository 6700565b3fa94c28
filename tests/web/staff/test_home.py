"""The staff home as a dashboard: the recent campaigns with their counts, the lists with
their sizes, and the "New issue" button."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from newsletter.store.campaigns import Campaign, CampaignStatus, Delivery, DeliveryState
from newsletter.web.staff.home import RECENT_CAMPAIGNS
from tests.sending.helpers import new_campaign, populated_list, small_issue
from tests.store.databases import session_scope
from tests.web.staff.helpers import logged_in


def _row(html: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert found is not None, f"no row {row_id}"
    return found.group(1)


def _count(row: str, name: str) -> int:
    found = re.search(rf'data-count="{name}">(\d+)<', row)
    assert found is not None, f"no {name} count in {row}"
    return int(found.group(1))


def _settle(campaign_id: int, state: DeliveryState, how_many: int) -> None:
    with session_scope(write=True) as session:
        pending = session.scalars(
            select(Delivery.id)
            .where(Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.PENDING)
            .order_by(Delivery.id)
            .limit(how_many)
        ).all()
        session.execute(update(Delivery).where(Delivery.id.in_(pending)).values(state=state))


def test_dashboard_shows_recent_campaigns_lists_and_new_issue(staff_client: TestClient) -> None:
    logged_in(staff_client)
    audience = populated_list(active=6)
    ids = [
        new_campaign(audience, issue=small_issue(subject=f"Issue {n}"))
        for n in range(RECENT_CAMPAIGNS + 2)
    ]
    newest, finished = ids[-1], ids[-2]
    _settle(newest, DeliveryState.SENT, 3)
    _settle(newest, DeliveryState.FAILED, 1)
    _settle(finished, DeliveryState.SENT, 6)
    with session_scope(write=True) as session:
        campaign = session.get(Campaign, finished)
        assert campaign is not None
        campaign.status = CampaignStatus.DONE
        campaign.finished_at = campaign.created_at + timedelta(minutes=2, seconds=5)
        finished_at = f"{campaign.finished_at:%Y-%m-%d %H:%M} UTC"

    page = staff_client.get("/staff/")
    assert page.status_code == 200
    html = page.text
    assert "<h1>Staff area</h1>" in html
    assert '<a class="button" id="new-issue" href="/staff/issues/new">New issue</a>' in html
    assert staff_client.get("/staff/issues/new").status_code == 200

    shown = [int(n) for n in re.findall(r'<tr id="recent-(\d+)">', html)]
    assert shown == sorted(ids, reverse=True)[:RECENT_CAMPAIGNS]
    row = _row(html, f"recent-{newest}")
    assert f'<a href="/staff/campaigns/{newest}">Issue {RECENT_CAMPAIGNS + 1}</a>' in row
    assert "to members" in row
    assert (_count(row, "sent"), _count(row, "failed"), _count(row, "left")) == (3, 1, 2)
    assert '<progress class="bar" max="6" value="4"' in row
    done = _row(html, f"recent-{finished}")
    assert (_count(done, "sent"), _count(done, "failed"), _count(done, "left")) == (6, 0, 0)
    assert f"finished {finished_at}, took 2 min 05 s" in done
    assert "finished" not in row

    # populated_list made the list (6 members, one of them unsubscribed, one bounced,
    # one unconfirmed) and another list with one member.
    sizes = _row(html, f"size-{audience.id}")
    assert "members" in sizes
    assert _count(sizes, "active") == 7
    assert _count(sizes, "eligible") == 6
    assert '<a href="/staff/campaigns">All campaigns</a>' in html


def test_dashboard_of_a_new_install(staff_client: TestClient) -> None:
    logged_in(staff_client)
    html = staff_client.get("/staff/").text
    assert "No campaigns yet. Start with" in html
    assert "No lists yet." in html
    assert "New issue" in html
