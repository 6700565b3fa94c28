from __future__ import annotations

import csv
import io
import re

from fastapi.testclient import TestClient
from sqlalchemy import update

from newsletter.store.campaigns import Delivery, DeliveryState
from newsletter.store.models import MembershipStatus, SuppressionReason
from newsletter.store.subscriptions import suppress, unsubscribe
from tests.store.databases import session_scope
from tests.web.helpers import new_campaign, new_list, new_member
from tests.web.staff.helpers import logged_in


def _row(html: str, row_id: str) -> dict[str, int]:
    match = re.search(rf'<tr id="{row_id}">(.*?)</tr>', html, re.S)
    assert match is not None, f"no row {row_id}"
    return {
        name: int(value)
        for name, value in re.findall(r'data-count="([a-z]+)">(\d+)<', match.group(1))
    }


def test_lists_show_counts_per_status(staff_client: TestClient) -> None:
    logged_in(staff_client)
    members = new_list("members", "Institute members")
    new_list("<b>press</b>")
    for number in range(3):
        new_member(f"active{number}@example.org", members)
    new_member("waiting@example.org", members, status=MembershipStatus.UNCONFIRMED)
    left = new_member("left@example.org", members)
    suppressed = new_member("bounced@example.org", members)
    with session_scope(write=True) as session:
        unsubscribe(session, left.subscriber_id, members, source="test")
        suppress(session, suppressed.email, SuppressionReason.BOUNCED, source="test")
    page = staff_client.get("/staff/lists")
    assert page.status_code == 200
    assert _row(page.text, f"list-{members}") == {
        "active": 4,
        "unsubscribed": 1,
        "unconfirmed": 1,
        "eligible": 3,
    }
    assert "Institute members" in page.text
    assert "&lt;b&gt;press&lt;/b&gt;" in page.text
    assert "<b>press</b>" not in page.text


def test_import_reports_every_rejected_row(staff_client: TestClient) -> None:
    token = logged_in(staff_client)
    members = new_list("members")
    new_member("left@example.org", members)
    with session_scope(write=True) as session:
        unsubscribe(session, 1, None, source="test")
    data = (
        b"email,name,city\n"
        b"ana@example.org,Ana,Lahore\n"
        b"not an address,Bad,\n"
        b"ana@example.org,Ana again,\n"
        b"left@example.org,Left,\n"
        b"<script>@example.org,X,\n"
    )
    response = staff_client.post(
        f"/staff/lists/{members}/import",
        data={"csrf": token},
        files={"file": ("people.csv", data, "text/csv")},
    )
    assert response.status_code == 200
    summary = re.search(r'<p id="import-summary">([^<]+)</p>', response.text)
    assert summary is not None
    assert summary.group(1) == "added 1, updated 0, skipped 4"
    lines = [int(n) for n in re.findall(r'<tr><td class="n">(\d+)</td>', response.text)]
    assert lines == [3, 4, 5, 6]
    assert "<script>" not in response.text
    assert _row(response.text, f"list-{members}")["active"] == 1


def test_import_of_a_bad_file_changes_nothing(staff_client: TestClient) -> None:
    token = logged_in(staff_client)
    members = new_list("members")
    response = staff_client.post(
        f"/staff/lists/{members}/import",
        data={"csrf": token},
        files={"file": ("people.csv", b"name,city\nAna,Lahore\n", "text/csv")},
    )
    assert response.status_code == 200
    assert "Nothing was imported" in response.text
    assert "people.csv" in response.text
    assert "/tmp" not in response.text


def test_import_into_unknown_list(staff_client: TestClient) -> None:
    token = logged_in(staff_client)
    response = staff_client.post(
        "/staff/lists/999/import",
        data={"csrf": token},
        files={"file": ("people.csv", b"email\na@example.org\n", "text/csv")},
    )
    assert response.status_code == 404


def test_export_is_spreadsheet_safe(staff_client: TestClient) -> None:
    logged_in(staff_client)
    members = new_list('members; "x" é')
    new_member("ana@example.org", members, name='=HYPERLINK("http://evil")')
    new_member("bo@example.org", members, name="+1 cmd")
    response = staff_client.get(f"/staff/lists/{members}/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"members-x.csv\"; filename*=UTF-8''")
    assert "%C3%A9" in disposition
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["email", "name", "status"]
    assert rows[1] == ["ana@example.org", '\'=HYPERLINK("http://evil")', "active"]
    assert rows[2] == ["bo@example.org", "'+1 cmd", "active"]
    assert staff_client.get("/staff/lists/999/export.csv").status_code == 404


def test_campaigns_show_sent_failed_and_what_happened_since(staff_client: TestClient) -> None:
    logged_in(staff_client)
    assert "No campaigns yet" in staff_client.get("/staff/campaigns").text
    members = new_list("members")
    people = [new_member(f"p{number}@example.org", members) for number in range(5)]
    before = new_member("before@example.org", members)
    with session_scope(write=True) as session:
        # Left before the campaign: not counted for it.
        unsubscribe(session, before.subscriber_id, members, source="test")
    campaign = new_campaign(members)
    with session_scope(write=True) as session:
        session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign.id)
            .values(state=DeliveryState.SENT)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.subscriber_id == people[4].subscriber_id)
            .values(state=DeliveryState.FAILED)
        )
        unsubscribe(session, people[0].subscriber_id, members, source="test")
        unsubscribe(session, people[0].subscriber_id, None, source="test")
        suppress(session, people[1].email, SuppressionReason.BOUNCED, source="test")
        suppress(session, people[2].email, SuppressionReason.COMPLAINED, source="test")
    page = staff_client.get("/staff/campaigns")
    assert page.status_code == 200
    assert _row(page.text, f"campaign-{campaign.id}") == {
        "sent": 4,
        "failed": 1,
        "unsubscribed": 1,
        "bounced": 1,
        "complained": 1,
    }
    assert campaign.subject in page.text
