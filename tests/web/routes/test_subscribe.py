from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from newsletter.store.models import SuppressionReason
from newsletter.store.recipients import eligible_batch
from newsletter.store.subscriptions import suppress
from newsletter.web.context import Limits
from tests.store.databases import session_scope
from tests.store.helpers import eligible_count
from tests.transports.smtp_servers import Mailbox
from tests.web.conftest import CLIENT_IP
from tests.web.helpers import (
    body,
    form_action,
    mail_settled,
    membership,
    new_list,
    new_member,
    parse,
    rows,
    snapshot,
)


def _sign_up(client: TestClient, email: str, name: str = "", list_name: str = "members") -> str:
    response = client.post(f"/subscribe/{list_name}", data={"email": email, "name": name})
    assert response.status_code == 200
    mail_settled(client)
    return response.text


def _confirm_link(mailbox: Mailbox, index: int = -1) -> str:
    message = parse(mailbox.accepted[index].data)
    links = re.findall(r"http://127\.0\.0\.1:8000(/c/[A-Za-z0-9_.-]+)", body(message, "plain"))
    assert len(links) == 1
    assert links[0] in body(message, "html")
    return str(links[0])


def _eligible(list_id: int) -> list[str]:
    with session_scope() as session:
        return [recipient.email for recipient in eligible_batch(session, list_id)]


def test_the_form_page_changes_nothing(client: TestClient) -> None:
    new_list("members", "News from the institute")
    before = snapshot()

    response = client.get("/subscribe/members")

    assert response.status_code == 200
    assert "News from the institute" in response.text
    assert form_action(response.text) == "/subscribe/members"
    assert snapshot() == before


def test_an_unknown_list_is_404(client: TestClient) -> None:
    assert client.get("/subscribe/nope").status_code == 404
    assert client.post("/subscribe/nope", data={"email": "a@example.org"}).status_code == 404


def test_double_opt_in_from_form_to_confirmed(client: TestClient, mailbox: Mailbox) -> None:
    list_id = new_list("members")

    _sign_up(client, "New.Person@Example.org", "New Person")

    assert len(mailbox.accepted) == 1
    assert mailbox.accepted[0].rcpt_tos == ("New.Person@example.org",)
    message = parse(mailbox.accepted[0].data)
    assert "confirm" in message["Subject"].lower()
    assert rows("SELECT status, version FROM memberships") == [("unconfirmed", 1)]
    assert rows("SELECT kind FROM events") == []
    # Unconfirmed: never mailed.
    assert _eligible(list_id) == []
    with session_scope() as session:
        assert eligible_count(session, list_id) == 0

    link = _confirm_link(mailbox)
    before = snapshot()
    page = client.get(link)
    assert page.status_code == 200
    assert snapshot() == before
    assert form_action(page.text, "confirm") == link

    done = client.post(link, data={"action": "confirm"})

    assert done.status_code == 200
    assert "You are subscribed" in done.text
    assert rows("SELECT status, version FROM memberships") == [("active", 1)]
    assert rows("SELECT kind, source, detail FROM events") == [("subscribed", "web", CLIENT_IP)]
    assert _eligible(list_id) == ["New.Person@example.org"]
    # Clicking again is harmless.
    assert "You are subscribed" in client.get(link).text
    assert client.post(link, data={"action": "confirm"}).status_code == 200
    assert len(rows("SELECT id FROM events")) == 1


def test_the_answer_is_the_same_whether_the_address_is_known_or_not(
    client: TestClient, mailbox: Mailbox
) -> None:
    list_id = new_list("members")
    new_member("known@example.org", list_id)
    bounced = "bounced@example.org"
    with session_scope(write=True) as session:
        suppress(session, bounced, SuppressionReason.BOUNCED, source="test")

    answers = {
        address: _sign_up(client, address).replace(address, "ADDRESS")
        for address in ("known@example.org", "new@example.org", bounced)
    }

    assert len(set(answers.values())) == 1
    # Only the new address got mail: an active member is not pestered, a bounced
    # address is never mailed.
    assert [m.rcpt_tos for m in mailbox.accepted] == [("new@example.org",)]


def test_asking_again_soon_does_not_mail_again(client: TestClient, mailbox: Mailbox) -> None:
    new_list("members")
    first = _sign_up(client, "new@example.org")
    second = _sign_up(client, "new@example.org")

    assert first == second
    assert len(mailbox.accepted) == 1


@pytest.mark.parametrize("limits", [Limits(confirmation_interval_seconds=0)])
def test_asking_again_later_mails_a_link_that_works(client: TestClient, mailbox: Mailbox) -> None:
    new_list("members")
    _sign_up(client, "new@example.org")
    _sign_up(client, "new@example.org")

    assert len(mailbox.accepted) == 2
    assert _confirm_link(mailbox, 0) == _confirm_link(mailbox, 1)


def test_coming_back_to_a_list_one_left_needs_confirming(
    client: TestClient, mailbox: Mailbox
) -> None:
    list_id = new_list("members")
    member = new_member("back@example.org", list_id)
    client.post(f"/u/{member.token('u')}", data={"List-Unsubscribe": "One-Click"})

    _sign_up(client, "back@example.org")

    assert membership(member) == ("unsubscribed", 1)
    assert _eligible(list_id) == []
    link = _confirm_link(mailbox)
    client.post(link, data={"action": "confirm"})
    assert membership(member) == ("active", 2)
    assert _eligible(list_id) == ["back@example.org"]
    # The confirmation link was for the old version: now outdated, like every old link.
    assert client.get(link).status_code == 400


def test_an_invalid_address_is_refused_and_nothing_is_stored(
    client: TestClient, mailbox: Mailbox
) -> None:
    new_list("members")
    before = snapshot()

    for address in ("not-an-address", "", "a@b@example.org", "x" * 400 + "@example.org"):
        response = client.post("/subscribe/members", data={"email": address})
        assert response.status_code == 400
        assert "valid email address" in response.text
    mail_settled(client)
    assert snapshot() == before
    assert mailbox.accepted == []


def test_the_hidden_field_filled_in_by_robots_does_nothing(
    client: TestClient, mailbox: Mailbox
) -> None:
    new_list("members")
    before = snapshot()

    response = client.post(
        "/subscribe/members", data={"email": "bot@example.org", "website": "http://spam"}
    )

    assert response.status_code == 200
    assert "check your inbox" in response.text.lower()
    mail_settled(client)
    assert snapshot() == before
    assert mailbox.accepted == []


@pytest.mark.parametrize("limits", [Limits(signups_per_ip=3)])
def test_too_many_sign_ups_from_one_address_get_429(client: TestClient, mailbox: Mailbox) -> None:
    new_list("members")
    for number in range(3):
        _sign_up(client, f"person{number}@example.org")

    response = client.post("/subscribe/members", data={"email": "person9@example.org"})

    assert response.status_code == 429
    assert "Too many" in response.text
    assert response.headers["retry-after"] == "3600"
    mail_settled(client)
    assert len(mailbox.accepted) == 3


def test_a_failed_confirmation_mail_answers_the_same_and_can_be_retried(
    client: TestClient, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_list("members")
    mailbox.rules["new@example.org"] = [("rcpt", "550 5.1.1 no such user")]

    answer = _sign_up(client, "new@example.org")

    assert "check your inbox" in answer.lower()
    assert mailbox.accepted == []
    _sign_up(client, "new@example.org")
    assert len(mailbox.accepted) == 1
