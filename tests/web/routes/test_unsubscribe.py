from __future__ import annotations

from fastapi.testclient import TestClient
from httpx import Response

from newsletter.store.subscriptions import is_suppressed
from tests.store.databases import session_scope
from tests.web.conftest import CLIENT_IP
from tests.web.helpers import (
    BAD_LINK_TITLE,
    Member,
    form_action,
    form_fields,
    membership,
    new_list,
    new_member,
    rows,
    snapshot,
)

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _member() -> Member:
    return new_member("ana@example.org", new_list("members"), name="Ana")


def _events(member: Member) -> list[tuple[str, str, str]]:
    return [
        (kind, source, detail)
        for kind, source, detail in rows(
            "SELECT kind, source, detail FROM events WHERE subscriber_id = :s AND source != 'test'"
            " ORDER BY id",
            s=member.subscriber_id,
        )
    ]


def _resubscribe_form(client: TestClient, url: str) -> dict[str, str]:
    """What the page's "Subscribe again" button posts."""
    return form_fields(client.get(url).text, "resubscribe")


def test_get_shows_a_confirmation_button_and_changes_nothing(client: TestClient) -> None:
    member = _member()
    before = snapshot()

    for _ in range(3):  # a scanner prefetching the link, then the person
        response = client.get(f"/u/{member.token('u')}")
        assert response.status_code == 200
    assert snapshot() == before
    assert "ana@example.org" in response.text
    assert "members" in response.text
    assert form_action(response.text, "unsubscribe") == f"/u/{member.token('u')}"
    assert response.headers["cache-control"] == "no-store"
    assert not response.cookies


def test_the_button_unsubscribes_and_offers_to_resubscribe(client: TestClient) -> None:
    member = _member()
    url = f"/u/{member.token('u')}"

    response = client.post(url, data={"action": "unsubscribe"})

    assert response.status_code == 200
    assert membership(member) == ("unsubscribed", 1)
    assert _events(member) == [("unsubscribed", "web", CLIENT_IP)]
    assert "You are unsubscribed" in response.text
    assert form_action(response.text, "resubscribe") == url


def test_one_click_post_urlencoded_answers_200_without_redirect(client: TestClient) -> None:
    member = _member()

    response = client.post(f"/u/{member.token('u')}", data=ONE_CLICK)

    assert response.status_code == 200
    assert "location" not in response.headers
    assert not response.cookies
    assert response.headers["content-type"].startswith("text/plain")
    assert membership(member) == ("unsubscribed", 1)
    assert _events(member) == [("unsubscribed", "one-click", CLIENT_IP)]


def test_one_click_post_multipart_answers_200(client: TestClient) -> None:
    member = _member()

    response = client.post(
        f"/u/{member.token('u')}", files={"List-Unsubscribe": (None, "One-Click")}
    )

    assert response.request.headers["content-type"].startswith("multipart/form-data")
    assert response.status_code == 200
    assert membership(member) == ("unsubscribed", 1)
    assert _events(member) == [("unsubscribed", "one-click", CLIENT_IP)]


def test_one_click_without_any_cookie_or_csrf_token(client: TestClient) -> None:
    member = _member()
    client.cookies.clear()

    response = client.post(
        f"/u/{member.token('u')}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": ""},
    )

    assert response.status_code == 200
    assert membership(member) == ("unsubscribed", 1)


def test_repeated_one_click_is_200_and_harmless(client: TestClient) -> None:
    member = _member()
    url = f"/u/{member.token('u')}"
    assert client.post(url, data=ONE_CLICK).status_code == 200
    after_first = snapshot()

    for _ in range(3):
        response = client.post(url, data=ONE_CLICK)
        assert response.status_code == 200
    assert snapshot() == after_first
    assert _events(member) == [("unsubscribed", "one-click", CLIENT_IP)]


def test_a_post_without_the_one_click_field_or_a_button_changes_nothing(
    client: TestClient,
) -> None:
    member = _member()
    url = f"/u/{member.token('u')}"
    before = snapshot()

    for data in ({}, {"List-Unsubscribe": "Yes"}, {"action": "explode"}):
        response = client.post(url, data=data)
        assert response.status_code == 400
        assert "Nothing was changed" in response.text
        assert form_action(response.text, "unsubscribe") == url
    response = client.post(url, content=b'{"List-Unsubscribe": "One-Click"}')
    assert response.status_code == 400
    response = client.post(
        url,
        content=b"--x\r\nContent-Disposition: form-data; name=List-Unsubscribe\r\n\r\nOne-",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 400
    assert snapshot() == before


def test_one_click_with_a_list_token_leaves_only_that_list(client: TestClient) -> None:
    member = _member()
    other = new_member("ana@example.org", new_list("events"))

    client.post(f"/u/{member.token('u')}", data=ONE_CLICK)

    assert membership(member)[0] == "unsubscribed"
    assert membership(other)[0] == "active"
    with session_scope() as session:
        assert not is_suppressed(session, "ana@example.org")


def test_resubscribe_bumps_the_version_and_retires_the_old_links(client: TestClient) -> None:
    member = _member()
    old = member.token("u")
    old_preferences = member.token("p")
    client.post(f"/u/{old}", data=ONE_CLICK)

    redirect = client.post(f"/u/{old}", data=_resubscribe_form(client, f"/u/{old}"))

    assert membership(member) == ("active", 2)
    new = member.token("u", version=2)
    assert redirect.status_code == 303
    assert redirect.headers["location"] == f"/u/{new}?back=1"
    response = client.get(redirect.headers["location"])
    assert response.status_code == 200
    assert "subscribed again" in response.text
    assert form_action(response.text, "unsubscribe") == f"/u/{new}"
    assert f"/p/{member.token('p', version=2)}" in response.text
    for stale in (f"/u/{old}", f"/p/{old_preferences}"):
        assert client.get(stale).status_code == 400
        assert BAD_LINK_TITLE in client.get(stale).text
    assert client.post(f"/u/{old}", data=ONE_CLICK).status_code == 400
    assert membership(member) == ("active", 2)
    # The new links work.
    assert client.get(f"/u/{new}").status_code == 200
    assert client.post(f"/u/{new}", data=ONE_CLICK).status_code == 200
    assert membership(member) == ("unsubscribed", 2)
    assert [kind for kind, _, _ in _events(member)] == [
        "unsubscribed",
        "resubscribed",
        "unsubscribed",
    ]


def test_a_bounced_address_is_not_resubscribed(client: TestClient) -> None:
    from newsletter.store.models import SuppressionReason
    from newsletter.store.subscriptions import suppress

    member = _member()
    url = f"/u/{member.token('u')}"
    client.post(url, data=ONE_CLICK)
    # The page was open before the bounce came in.
    form = _resubscribe_form(client, url)
    with session_scope(write=True) as session:
        suppress(session, member.email, SuppressionReason.BOUNCED, source="test")

    response = client.post(url, data=form)

    assert response.status_code == 200
    assert "cannot" in response.text
    assert membership(member) == ("unsubscribed", 1)
    assert "resubscribe" not in client.get(url).text


def test_get_after_unsubscribing_says_so_and_changes_nothing(client: TestClient) -> None:
    member = _member()
    url = f"/u/{member.token('u')}"
    client.post(url, data=ONE_CLICK)
    before = snapshot()

    response = client.get(url)

    assert response.status_code == 200
    assert "does not receive" in response.text
    assert form_action(response.text, "resubscribe") == url
    assert snapshot() == before


# ---- preferences -----------------------------------------------------------------------


def _three_lists() -> tuple[Member, Member, Member]:
    members = new_member("bo@example.org", new_list("members", "Monthly news"), name="Bo")
    events = new_member("bo@example.org", new_list("events"))
    seminars = new_member("bo@example.org", new_list("seminars"))
    return members, events, seminars


def _checked(html: str) -> set[str]:
    import re

    return set(re.findall(r'name="list" value="(\d+)" id="list-\d+" checked', html))


def _save(client: TestClient, url: str, lists: list[str]) -> Response:
    """Press "Save my choices" on the page at `url`, as a subscriber would."""
    fields = _preferences_form(client.get(url).text)
    return client.post(url, data={**fields, "action": "save", "list": lists})


def _preferences_form(html: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'type="hidden" name="(form_token)" value="([^"]*)"', html))


def test_preferences_page_lists_the_memberships_and_changes_nothing(client: TestClient) -> None:
    members, events, seminars = _three_lists()
    new_member("someone-else@example.org", new_list("private"))
    before = snapshot()

    response = client.get(f"/p/{members.token('p')}")

    assert response.status_code == 200
    assert snapshot() == before
    for name in ("members", "Monthly news", "events", "seminars"):
        assert name in response.text
    assert "private" not in response.text
    assert _checked(response.text) == {str(m.list_id) for m in (members, events, seminars)}


def test_preferences_save_leaves_unchecked_and_rejoins_checked_lists(client: TestClient) -> None:
    members, events, seminars = _three_lists()
    url = f"/p/{members.token('p')}"
    client.post(f"/u/{seminars.token('u')}", data=ONE_CLICK)

    response = _save(client, url, [str(members.list_id), str(seminars.list_id)])

    assert response.status_code == 200
    assert "saved" in response.text
    assert membership(members) == ("active", 1)
    assert membership(events) == ("unsubscribed", 1)
    assert membership(seminars) == ("active", 2)  # came back: a new version
    assert _checked(response.text) == {str(members.list_id), str(seminars.list_id)}
    assert form_action(response.text) == url  # this token's own list kept its version
    # Unknown and foreign list ids are ignored.
    _save(client, url, [str(members.list_id), "999", "x"])
    assert membership(seminars)[0] == "unsubscribed"
    # And so are ids no list can have: "²" passes str.isdigit but not int, "١" is read
    # by int as 1, and 30 digits overflow the database's integer. None of them is a 500.
    odd = _save(client, url, [str(members.list_id), "²", "١", "9" * 30])
    assert odd.status_code == 200 and "saved" in odd.text
    assert membership(members) == ("active", 1)
    assert membership(seminars)[0] == "unsubscribed"


def test_preferences_page_after_its_own_list_came_back_carries_a_new_token(
    client: TestClient,
) -> None:
    members, _, _ = _three_lists()
    old = f"/p/{members.token('p')}"
    client.post(f"/u/{members.token('u')}", data=ONE_CLICK)

    response = _save(client, old, [str(members.list_id)])

    assert membership(members) == ("active", 2)
    new = f"/p/{members.token('p', version=2)}"
    assert form_action(response.text) == new
    assert client.get(old).status_code == 400
    assert client.get(new).status_code == 200


def test_preferences_leave_all_suppresses_the_address(client: TestClient) -> None:
    members, events, seminars = _three_lists()
    url = f"/p/{members.token('p')}"

    response = client.post(url, data={"action": "leave"})

    assert response.status_code == 200
    assert "unsubscribed from everything" in response.text
    assert {membership(m)[0] for m in (members, events, seminars)} == {"unsubscribed"}
    assert rows("SELECT reason FROM suppressions") == [("unsubscribed",)]
    assert _checked(response.text) == set()
    assert _events(members)[-1] == ("unsubscribed", "web", CLIENT_IP)
    # Choosing a list again lifts the suppression (it was the person's own choice).
    _save(client, url, [str(events.list_id)])
    assert membership(events) == ("active", 2)
    assert rows("SELECT reason FROM suppressions") == []


def test_preferences_post_without_an_action_changes_nothing(client: TestClient) -> None:
    members, _, _ = _three_lists()
    before = snapshot()

    response = client.post(f"/p/{members.token('p')}", data={"list": []})

    assert response.status_code == 400
    assert "Nothing was changed" in response.text
    assert snapshot() == before


def test_a_token_without_a_list_leaves_everything(client: TestClient) -> None:
    from newsletter.core.tokens import Token
    from tests.web.helpers import sign

    members, events, _ = _three_lists()
    url = f"/u/{sign(Token('u', members.subscriber_id))}"
    assert "our newsletters" in client.get(url).text

    assert client.post(url, data=ONE_CLICK).status_code == 200

    assert {membership(m)[0] for m in (members, events)} == {"unsubscribed"}
    assert rows("SELECT reason FROM suppressions") == [("unsubscribed",)]
    # Coming back is chosen list by list, on the preferences page.
    back = client.post(url, data={"action": "resubscribe"})
    assert back.status_code == 303
    assert back.headers["location"].startswith("/p/")
    assert client.get(back.headers["location"]).status_code == 200


def test_an_oversized_body_is_not_read_as_a_one_click(client: TestClient) -> None:
    member = _member()
    body = b"List-Unsubscribe=One-Click&pad=" + b"x" * 100_000

    response = client.post(
        f"/u/{member.token('u')}",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 400
    assert membership(member) == ("active", 1)
