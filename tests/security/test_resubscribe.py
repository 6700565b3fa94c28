"""Coming back to a list needs the page: a bare POST to the mail's link resubscribes no one.

The unsubscribe link is in every mail, so whoever holds a mail (a scanner that posts
forms, a script, a forged form on another site) could post `action=resubscribe` to it.
Only the page's "Subscribe again" form, which carries a form token bound to the link,
brings a subscriber back; the RFC 8058 one-click POST works as before.
"""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from newsletter.core.settings import get_settings
from newsletter.web.form_tokens import FORM_SECONDS, form_token
from newsletter.web.routes.unsubscribe import RESUBSCRIBE_FORM
from tests.web import conftest as web
from tests.web.helpers import Member, form_fields, membership, new_list, new_member, snapshot

# The web tests' fixtures (the app, its mailbox), used here under their own names.
client = web.client
mailbox = web.mailbox
limits = web.limits

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def left(client: TestClient) -> Member:
    """A member who left with the one-click POST."""
    member = new_member("ana@example.org", new_list("members"))
    assert client.post(f"/u/{member.token('u')}", data=ONE_CLICK).status_code == 200
    assert membership(member) == ("unsubscribed", 1)
    return member


def refused(client: TestClient, member: Member, **options: object) -> None:
    url = f"/u/{member.token('u')}"
    before = snapshot()

    response = client.post(url, **options)  # type: ignore[arg-type]

    assert response.status_code == 403, response.text
    assert "Nothing was changed" in response.text
    assert snapshot() == before
    assert membership(member) == ("unsubscribed", 1)


def test_a_bare_post_to_the_link_does_not_resubscribe(client: TestClient, left: Member) -> None:
    refused(client, left, data={"action": "resubscribe"})
    refused(client, left, files={"action": (None, "resubscribe")})


@pytest.mark.parametrize(
    "form_token_value",
    [
        "",
        "garbage",
        "1.2.3",
        "9999999999.AAAAAAAAAAAAAAAAAAAAAA",
        "9999999999.äöü",
        "x" * 1000,
    ],
)
def test_a_made_up_form_token_does_not_resubscribe(
    client: TestClient, left: Member, form_token_value: str
) -> None:
    refused(client, left, data={"action": "resubscribe", "form_token": form_token_value})


def test_a_form_token_of_another_link_or_purpose_or_key_does_not_resubscribe(
    client: TestClient, left: Member
) -> None:
    other = new_member("bo@example.org", left.list_id)
    key = get_settings().signing_key()
    for token in (
        form_token(key, RESUBSCRIBE_FORM, other.token("u")),
        form_token(key, "another form", left.token("u")),
        form_token(b"another-key-0123456789", RESUBSCRIBE_FORM, left.token("u")),
    ):
        refused(client, left, data={"action": "resubscribe", "form_token": token})


def test_an_expired_form_token_does_not_resubscribe(client: TestClient, left: Member) -> None:
    key = get_settings().signing_key()
    token = left.token("u")
    stale = form_token(key, RESUBSCRIBE_FORM, token, now=time.time() - FORM_SECONDS - 1)

    refused(client, left, data={"action": "resubscribe", "form_token": stale})


def test_the_page_s_button_resubscribes(client: TestClient, left: Member) -> None:
    url = f"/u/{left.token('u')}"
    page = client.get(url)
    assert page.status_code == 200
    form = form_fields(page.text, "resubscribe")
    assert set(form) == {"action", "form_token"}

    response = client.post(url, data=form)

    assert response.status_code == 303
    assert response.headers["location"] == f"/u/{left.token('u', version=2)}?back=1"
    assert membership(left) == ("active", 2)


def test_the_refusal_page_offers_a_button_that_works(client: TestClient, left: Member) -> None:
    url = f"/u/{left.token('u')}"
    page = client.post(url, data={"action": "resubscribe"})
    assert page.status_code == 403

    response = client.post(url, data=form_fields(page.text, "resubscribe"))

    assert response.status_code == 303
    assert membership(left) == ("active", 2)


def test_the_page_shown_after_unsubscribing_offers_a_button_that_works(
    client: TestClient,
) -> None:
    member = new_member("ana@example.org", new_list("members"))
    url = f"/u/{member.token('u')}"
    done = client.post(url, data={"action": "unsubscribe"})
    assert "You are unsubscribed" in done.text

    response = client.post(url, data=form_fields(done.text, "resubscribe"))

    assert response.status_code == 303
    assert membership(member) == ("active", 2)


def test_the_one_click_post_still_needs_nothing_but_the_field(client: TestClient) -> None:
    member = new_member("ana@example.org", new_list("members"))
    url = f"/u/{member.token('u')}"

    for options in ({"data": ONE_CLICK}, {"files": {"List-Unsubscribe": (None, "One-Click")}}):
        response = client.post(url, **options)
        assert response.status_code == 200
        assert response.text == "You are unsubscribed.\n"
        assert "set-cookie" not in response.headers
        assert membership(member) == ("unsubscribed", 1)
    # A one-click POST that also asks to come back is still only a one-click unsubscribe.
    assert client.post(url, data={**ONE_CLICK, "action": "resubscribe"}).status_code == 200
    assert membership(member) == ("unsubscribed", 1)


# ---- the preferences page: the same consent, list by list ------------------------------


def test_a_bare_post_to_the_preferences_link_rejoins_no_list(
    client: TestClient, left: Member
) -> None:
    url = f"/p/{left.token('p')}"
    before = snapshot()

    for options in (
        {"data": {"action": "save", "list": [str(left.list_id)]}},
        {"data": {"action": "save", "list": [str(left.list_id)], "form_token": "garbage"}},
        {"files": {"action": (None, "save"), "list": (None, str(left.list_id))}},
    ):
        response = client.post(url, **options)  # type: ignore[arg-type]
        assert response.status_code == 403, response.text
        assert "Nothing was changed" in response.text

    assert snapshot() == before
    assert membership(left) == ("unsubscribed", 1)


def test_the_preferences_form_from_the_page_rejoins_the_list(
    client: TestClient, left: Member
) -> None:
    import re

    url = f"/p/{left.token('p')}"
    page = client.get(url).text
    fields = dict(re.findall(r'type="hidden" name="(form_token)" value="([^"]*)"', page))
    assert fields, "the preferences form carries no form token"

    response = client.post(url, data={**fields, "action": "save", "list": [str(left.list_id)]})

    assert response.status_code == 200
    assert membership(left) == ("active", 2)


def test_leaving_from_the_preferences_page_needs_no_form_token(
    client: TestClient,
) -> None:
    member = new_member("cy@example.org", new_list("members"))

    response = client.post(f"/p/{member.token('p')}", data={"action": "leave"})

    assert response.status_code == 200
    assert membership(member)[0] == "unsubscribed"
