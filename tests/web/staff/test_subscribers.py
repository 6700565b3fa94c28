from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx2 import Response

from newsletter.store.models import MembershipStatus, Subscriber, SuppressionReason
from newsletter.store.subscriptions import suppress, unsubscribe
from tests.store.databases import session_scope
from tests.web.helpers import (
    mail_settled,
    membership,
    new_campaign,
    new_list,
    new_member,
    rows,
    snapshot,
)
from tests.web.staff.helpers import EMAIL, logged_in

ADDRESS = "Zainab.Qureshi@example.org"
NAME = "Zainab Qureshi"


def _subscriber_of(location: str) -> tuple[int, str]:
    match = re.fullmatch(r"/staff/subscribers/(\d+)\?done=([a-z-]+)", location)
    assert match is not None, location
    return int(match.group(1)), match.group(2)


def _add(client: TestClient, token: str, list_id: int, email: str, name: str = "") -> Response:
    return client.post(
        "/staff/subscribers/new",
        data={"csrf": token, "email": email, "name": name, "list": str(list_id)},
    )


def test_a_subscriber_added_by_hand_is_active_and_found_by_search(
    staff_client: TestClient,
) -> None:
    token = logged_in(staff_client)
    members = new_list("members")
    new_member("other@example.org", members, name="Other")
    added = _add(staff_client, token, members, ADDRESS, NAME)
    assert added.status_code == 303
    subscriber_id, done = _subscriber_of(added.headers["location"])
    assert done == "added"
    assert rows(
        "SELECT status, source FROM memberships WHERE subscriber_id = :id", id=subscriber_id
    ) == [("active", "staff")]

    page = staff_client.get(f"/staff/subscribers/{subscriber_id}?done=added")
    assert page.status_code == 200
    assert '<p class="notice" role="status" id="done">Added.</p>' in page.text
    assert 'data-kind="subscribed"' in page.text
    assert f"added by {EMAIL}" in page.text

    search = staff_client.get("/staff/subscribers", params={"q": "qureshi"}).text
    assert f'href="/staff/subscribers/{subscriber_id}">{ADDRESS}</a>' in search
    assert "other@example.org" not in search
    by_list = staff_client.get("/staff/subscribers", params={"q": "", "list": str(members)})
    assert "other@example.org" in by_list.text
    nothing = staff_client.get("/staff/subscribers", params={"q": "nobody", "list": ""})
    assert 'id="no-results"' in nothing.text

    again = _add(staff_client, token, members, ADDRESS.upper())
    assert _subscriber_of(again.headers["location"]) == (subscriber_id, "already")


def test_adding_by_hand_never_brings_back_someone_who_left(staff_client: TestClient) -> None:
    token = logged_in(staff_client)
    members, press = new_list("members"), new_list("press")
    left = new_member("left@example.org", members)
    gone = new_member("gone@example.org", members)
    with session_scope(write=True) as session:
        unsubscribe(session, left.subscriber_id, members, source="test")
        unsubscribe(session, gone.subscriber_id, None, source="test")
    again = _add(staff_client, token, members, "left@example.org")
    assert _subscriber_of(again.headers["location"]) == (left.subscriber_id, "left")
    assert membership(left) == ("unsubscribed", 1)
    refused = _add(staff_client, token, press, "gone@example.org")
    assert refused.status_code == 400
    assert "unsubscribed from every list" in refused.text
    invalid = _add(staff_client, token, press, "not an address")
    assert invalid.status_code == 400
    assert 'value="not an address"' in invalid.text


def test_staff_edit_name_and_fields_and_the_history_shows_it(staff_client: TestClient) -> None:
    token = logged_in(staff_client)
    members = new_list("members")
    member = new_member(ADDRESS, members, name="Zainab")
    with session_scope(write=True) as session:
        found = session.get(Subscriber, member.subscriber_id)
        assert found is not None
        found.attributes = {"city": "Lahore", "org": "IPS"}
    page = staff_client.get(f"/staff/subscribers/{member.subscriber_id}").text
    assert 'name="attr:city" value="Lahore"' in page
    saved = staff_client.post(
        f"/staff/subscribers/{member.subscriber_id}/edit",
        data={
            "csrf": token,
            "name": NAME,
            "attr:city": "Karachi",
            "attr:org": "",
            "new_name": "title",
            "new_value": "Dr",
        },
    )
    assert _subscriber_of(saved.headers["location"]) == (member.subscriber_id, "edited")
    assert rows("SELECT name FROM subscribers WHERE id = :id", id=member.subscriber_id) == [(NAME,)]
    page = staff_client.get(saved.headers["location"]).text
    assert 'name="attr:city" value="Karachi"' in page
    assert 'name="attr:title" value="Dr"' in page
    assert "attr:org" not in page
    assert f"changed name, city, org, title ({EMAIL})" in page


def test_staff_unsubscribe_from_one_list_or_from_all(staff_client: TestClient) -> None:
    token = logged_in(staff_client)
    members, press = new_list("members"), new_list("press")
    ana = new_member("ana@example.org", members)
    new_member("ana@example.org", press)
    one = staff_client.post(
        f"/staff/subscribers/{ana.subscriber_id}/unsubscribe",
        data={"csrf": token, "list": str(members)},
    )
    assert _subscriber_of(one.headers["location"]) == (ana.subscriber_id, "unsubscribed")
    statuses = rows("SELECT list_id, status FROM memberships ORDER BY list_id")
    assert statuses == [(members, "unsubscribed"), (press, "active")]
    every = staff_client.post(
        f"/staff/subscribers/{ana.subscriber_id}/unsubscribe", data={"csrf": token, "list": "all"}
    )
    assert _subscriber_of(every.headers["location"])[1] == "unsubscribed-all"
    assert rows("SELECT reason FROM suppressions") == [("unsubscribed",)]
    page = staff_client.get(f"/staff/subscribers/{ana.subscriber_id}").text
    assert "yes, unsubscribed since" in page
    assert 'id="unsubscribe-all"' not in page
    bad = staff_client.post(
        f"/staff/subscribers/{ana.subscriber_id}/unsubscribe", data={"csrf": token, "list": "x"}
    )
    assert bad.status_code == 400


def test_staff_add_a_known_subscriber_to_another_list(staff_client: TestClient) -> None:
    token = logged_in(staff_client)
    members, press = new_list("members"), new_list("press")
    ana = new_member("ana@example.org", members)
    page = staff_client.get(f"/staff/subscribers/{ana.subscriber_id}").text
    assert f'<option value="{press}">press</option>' in page
    added = staff_client.post(
        f"/staff/subscribers/{ana.subscriber_id}/lists", data={"csrf": token, "list": str(press)}
    )
    assert _subscriber_of(added.headers["location"]) == (ana.subscriber_id, "added")
    assert rows("SELECT list_id, status FROM memberships ORDER BY list_id") == [
        (members, MembershipStatus.ACTIVE.value),
        (press, MembershipStatus.ACTIVE.value),
    ]


def test_erasure_asks_for_the_address_then_leaves_nothing_in_clear(
    staff_client: TestClient,
) -> None:
    token = logged_in(staff_client)
    members = new_list("members")
    zainab = new_member(ADDRESS, members, name=NAME)
    new_campaign(members)
    confirm = staff_client.get(f"/staff/subscribers/{zainab.subscriber_id}/erase")
    assert confirm.status_code == 200
    assert 'id="erase-form"' in confirm.text

    wrong = staff_client.post(
        f"/staff/subscribers/{zainab.subscriber_id}/erase",
        data={"csrf": token, "confirm": "someone@example.org"},
    )
    assert wrong.status_code == 400
    assert "nothing was erased" in wrong.text
    assert rows("SELECT email FROM subscribers") == [(ADDRESS,)]

    erased = staff_client.post(
        f"/staff/subscribers/{zainab.subscriber_id}/erase",
        data={"csrf": token, "confirm": f" {ADDRESS.upper()} "},
    )
    assert erased.status_code == 200
    assert 'id="erased"' in erased.text
    assert ADDRESS not in erased.text
    everything = repr(snapshot()).lower()
    assert ADDRESS.lower() not in everything
    assert NAME.lower() not in everything
    assert rows("SELECT reason, email_key FROM suppressions") == [("erased", None)]
    assert staff_client.get(f"/staff/subscribers/{zainab.subscriber_id}").status_code == 404

    # The address cannot come back: neither by hand, nor by import, nor by signing up.
    by_hand = _add(staff_client, token, members, ADDRESS)
    assert by_hand.status_code == 400
    assert "erased at its owner&#39;s request" in by_hand.text
    imported = staff_client.post(
        f"/staff/lists/{members}/import",
        data={"csrf": token},
        files={"file": ("people.csv", f"email,name\n{ADDRESS},{NAME}\n".encode(), "text/csv")},
    )
    assert "added 0, updated 0, skipped 1" in imported.text
    signed_up = staff_client.post("/subscribe/members", data={"email": ADDRESS, "name": NAME})
    assert signed_up.status_code == 200
    mail_settled(staff_client)
    assert rows("SELECT count(*) FROM subscribers") == [(0,)]
    everything = repr(snapshot()).lower()
    assert ADDRESS.lower() not in everything
    assert NAME.lower() not in everything


def test_staff_change_the_address_and_the_history_keeps_the_old_one(
    staff_client: TestClient,
) -> None:
    token = logged_in(staff_client)
    members = new_list("members")
    zainab = new_member("zainab.qureshi@exmaple.org", members, name=NAME)
    page = staff_client.get(f"/staff/subscribers/{zainab.subscriber_id}").text
    assert 'name="email" value="zainab.qureshi@exmaple.org"' in page
    changed = staff_client.post(
        f"/staff/subscribers/{zainab.subscriber_id}/email",
        data={"csrf": token, "email": f" {ADDRESS} "},
    )
    assert _subscriber_of(changed.headers["location"]) == (zainab.subscriber_id, "email")
    assert rows("SELECT email, email_key FROM subscribers") == [(ADDRESS, ADDRESS.lower())]
    assert membership(zainab) == ("active", 1)
    page = staff_client.get(changed.headers["location"]).text
    assert "The address was changed" in page
    assert f"changed email from zainab.qureshi@exmaple.org to {ADDRESS} ({EMAIL})" in page
    same = staff_client.post(
        f"/staff/subscribers/{zainab.subscriber_id}/email", data={"csrf": token, "email": ADDRESS}
    )
    assert _subscriber_of(same.headers["location"]) == (zainab.subscriber_id, "unchanged")


def test_a_new_address_that_cannot_be_used_is_refused_next_to_the_field(
    staff_client: TestClient,
) -> None:
    token = logged_in(staff_client)
    members = new_list("members")
    zainab = new_member(ADDRESS, members, name=NAME)
    other = new_member("other@example.org", members)
    with session_scope(write=True) as session:
        suppress(session, "bounced@example.org", SuppressionReason.BOUNCED, source="test")
    cases = {
        "Other@Example.org": (
            f"other@example.org is already the address of another subscriber (number "
            f"{other.subscriber_id}): two subscribers cannot share one."
        ),
        "bounced@example.org": "Mail to this address bounced, so it cannot be given",
        "zainab at example.org": "An email address must have an @-sign.",
    }
    for typed, message in cases.items():
        refused = staff_client.post(
            f"/staff/subscribers/{zainab.subscriber_id}/email",
            data={"csrf": token, "email": typed},
        )
        assert refused.status_code == 400, typed
        error = re.search(
            r'<p class="field-error" role="alert" id="email-error">([^<]*)</p>', refused.text
        )
        assert error is not None and message in error.group(1), refused.text
        # What was typed stays in the field, marked as the one in error.
        assert f'name="email" value="{typed}"' in refused.text
        assert 'aria-describedby="email-help email-error" aria-invalid="true"' in refused.text
    assert rows("SELECT email FROM subscribers WHERE id = :id", id=zainab.subscriber_id) == [
        (ADDRESS,)
    ]
    assert (
        "changed email" not in staff_client.get(f"/staff/subscribers/{zainab.subscriber_id}").text
    )
