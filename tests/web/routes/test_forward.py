from __future__ import annotations

import dataclasses
import re

import pytest
from fastapi.testclient import TestClient

from newsletter.core.settings import get_settings
from newsletter.core.tokens import verify
from newsletter.issue.model import Issue
from newsletter.store.models import SuppressionReason
from newsletter.store.subscriptions import suppress
from newsletter.web.context import Limits
from tests.compose.helpers import compose, make_record
from tests.store.databases import session_scope
from tests.transports.smtp_servers import Mailbox
from tests.web.helpers import (
    Member,
    body,
    example_issue,
    form_action,
    new_campaign,
    new_list,
    new_member,
    parse,
    rows,
    snapshot,
)

SLUG = "2023-03-21-water-and-peace-sharing-rivers"
NOTE = 'Thought of you <script>alert("x")</script> & the rivers.\nSee page 2.'


def _setup(name: str = "Ana Example", issue: Issue | None = None) -> tuple[Member, str]:
    list_id = new_list("members")
    member = new_member("ana@example.org", list_id, name=name)
    campaign = new_campaign(list_id, issue=issue)
    return member, _url(member, campaign.id)


def _url(member: Member, campaign_id: int) -> str:
    return f"/f/{member.token('f', campaign_id=campaign_id)}"


def _campaign_of(url: str) -> int:
    return verify(get_settings().signing_key(), url.removeprefix("/f/"), "f").campaign_id


def test_the_form_page_changes_nothing(client: TestClient) -> None:
    _, url = _setup()
    before = snapshot()

    response = client.get(url)

    assert response.status_code == 200
    assert snapshot() == before
    assert form_action(response.text) == url
    assert 'maxlength="500"' in response.text
    assert "Water and Peace" in response.text


def test_forward_sends_one_message_that_names_the_forwarder(
    client: TestClient, mailbox: Mailbox
) -> None:
    _, url = _setup()

    response = client.post(url, data={"email": "Friend@Example.org", "note": NOTE})

    assert response.status_code == 200
    assert "We sent" in response.text
    assert [m.rcpt_tos for m in mailbox.accepted] == [("Friend@example.org",)]
    message = parse(mailbox.accepted[0].data)
    assert message["To"] == "Friend@example.org"
    assert "Water and Peace" in message["Subject"]
    assert "List-Unsubscribe" not in message
    html, text = body(message, "html"), body(message, "plain")
    for part in (html, text):
        assert "Ana Example" in part and "ana@example.org" in part
        assert "http://127.0.0.1:8000/subscribe/members" in part
        assert f"http://127.0.0.1:8000/issues/{SLUG}/" in part
        # None of the forwarder's personal links, and no placeholder left over.
        assert not re.search(r"/[upfc]/[A-Za-z0-9_-]+\.", part), part
        assert "__NL_" not in part
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; the rivers.<br>See page 2." in html
    )
    assert "<script>" not in html
    assert "> Thought of you <script>" in text
    # The friend is not subscribed: no subscriber, no membership, no event for them.
    assert rows("SELECT email FROM subscribers") == [("ana@example.org",)]
    assert rows("SELECT state, friend_email FROM forwards") == [("sent", "Friend@example.org")]


def test_the_same_forward_twice_is_sent_once(client: TestClient, mailbox: Mailbox) -> None:
    _, url = _setup()
    client.post(url, data={"email": "friend@example.org"})

    for address in ("friend@example.org", "FRIEND@example.org"):
        response = client.post(url, data={"email": address, "note": "again"})
        assert response.status_code == 200
        assert "already sent" in response.text
    assert len(mailbox.accepted) == 1


def test_a_different_friend_gets_their_own_message(client: TestClient, mailbox: Mailbox) -> None:
    _, url = _setup()
    client.post(url, data={"email": "one@example.org"})
    client.post(url, data={"email": "two@example.org"})
    assert [m.rcpt_tos for m in mailbox.accepted] == [("one@example.org",), ("two@example.org",)]


@pytest.mark.parametrize("limits", [Limits(forwards_per_subscriber=2)])
def test_forwards_per_subscriber_are_limited(client: TestClient, mailbox: Mailbox) -> None:
    _, url = _setup()
    for number in range(2):
        assert client.post(url, data={"email": f"f{number}@example.org"}).status_code == 200

    response = client.post(url, data={"email": "f9@example.org"})

    assert response.status_code == 429
    assert "Too many" in response.text
    assert response.headers["retry-after"] == "3600"
    assert len(mailbox.accepted) == 2
    # A repeat is not a new message, so it is still answered.
    assert "already sent" in client.post(url, data={"email": "f0@example.org"}).text


@pytest.mark.parametrize("limits", [Limits(forwards_per_ip=2)])
def test_forwards_per_client_address_are_limited(client: TestClient, mailbox: Mailbox) -> None:
    member, url = _setup()
    other = new_member("bo@example.org", member.list_id)
    other_url = _url(other, _campaign_of(url))
    assert client.post(url, data={"email": "f1@example.org"}).status_code == 200
    assert client.post(other_url, data={"email": "f2@example.org"}).status_code == 200

    assert client.post(other_url, data={"email": "f3@example.org"}).status_code == 429
    assert len(mailbox.accepted) == 2


def test_an_invalid_address_or_a_long_note_is_refused(client: TestClient, mailbox: Mailbox) -> None:
    _, url = _setup()
    before = snapshot()

    for data in (
        {"email": "not an address"},
        {"email": ""},
        {"email": "friend@example.org", "note": "x" * 501},
    ):
        response = client.post(url, data=data)
        assert response.status_code == 400
        assert form_action(response.text) == url
    assert snapshot() == before
    assert mailbox.accepted == []
    # 500 characters are fine.
    assert client.post(url, data={"email": "f@example.org", "note": "x" * 500}).status_code == 200


def test_a_suppressed_friend_gets_nothing_but_the_answer_is_the_same(
    client: TestClient, mailbox: Mailbox
) -> None:
    _, url = _setup()
    with session_scope(write=True) as session:
        suppress(session, "gone@example.org", SuppressionReason.COMPLAINED, source="test")

    sent = client.post(url, data={"email": "fine@example.org"}).text
    withheld = client.post(url, data={"email": "gone@example.org"}).text

    assert withheld.replace("gone@", "X@") == sent.replace("fine@", "X@")
    assert [m.rcpt_tos for m in mailbox.accepted] == [("fine@example.org",)]


def test_a_refused_message_can_be_tried_again(client: TestClient, mailbox: Mailbox) -> None:
    _, url = _setup()
    mailbox.rules["friend@example.org"] = [("rcpt", "451 4.3.0 try later")]

    response = client.post(url, data={"email": "friend@example.org"})

    assert response.status_code == 503
    assert rows("SELECT id FROM forwards") == []
    assert client.post(url, data={"email": "friend@example.org"}).status_code == 200
    assert len(mailbox.accepted) == 1


def test_an_issue_with_inline_images_is_forwarded_with_them(
    client: TestClient, mailbox: Mailbox
) -> None:
    _, url = _setup(issue=compose(images="inline"))

    assert client.post(url, data={"email": "friend@example.org"}).status_code == 200

    message = parse(mailbox.accepted[0].data)
    images = [part for part in message.walk() if part.get_content_maintype() == "image"]
    # The photo and the "Follow Us" icons.
    assert sorted(part["Content-ID"] for part in images) == [
        "<social-facebook.png@newsletter>",
        "<social-linkedin.png@newsletter>",
        "<speaker-1.png@newsletter>",
    ]
    assert 'src="cid:speaker-1.png@newsletter"' in body(message, "html")


def _footer(part: str) -> str:
    """What follows the issue's own footer (the brand's postal address)."""
    return part[part.rindex("Islamabad") :]


def test_the_friends_copy_has_a_footer_for_the_friend(client: TestClient, mailbox: Mailbox) -> None:
    _, url = _setup()

    assert client.post(url, data={"email": "friend@example.org"}).status_code == 200

    message = parse(mailbox.accepted[0].data)
    for part in (body(message, "html"), body(message, "plain")):
        footer = _footer(part)
        # The forwarder is named once, in the banner ("... sent you this newsletter"),
        # never as the one who "is subscribed".
        assert part.count("ana@example.org") == 1
        assert "is subscribed" not in part and "You received this because" not in part
        # Subscribe, not the dead links of someone else's subscription.
        assert "Subscribe" in footer and "http://127.0.0.1:8000/subscribe/members" in footer
        assert f"http://127.0.0.1:8000/issues/{SLUG}/newsletter.pdf" in footer
        assert "A reader of MUSLIM Institute sent you this copy." in footer
        for gone in ("Unsubscribe", "Send to a friend", "Manage preferences"):
            assert gone not in footer
    # Nothing of the marks the composer left for it.
    assert "nl:personal" not in body(message, "html")


def test_an_urdu_friends_copy_has_its_footer_in_urdu(client: TestClient, mailbox: Mailbox) -> None:
    _, url = _setup(issue=compose(make_record(language="ur", title="پانی اور امن")))

    assert client.post(url, data={"email": "friend@example.org"}).status_code == 200

    message = parse(mailbox.accepted[0].data)
    for part in (body(message, "html"), body(message, "plain")):
        footer = _footer(part)
        assert "کے ایک قاری نے آپ کو یہ کاپی بھیجی ہے" in footer
        assert "سبسکرائب کریں" in footer
        for english in ("Subscribe", "Web version", "A reader of"):
            assert english not in footer


def test_a_template_without_the_marks_keeps_its_footer(
    client: TestClient, mailbox: Mailbox
) -> None:
    """An override template that does not mark the recipient's part: the footer stays, its
    links lead nowhere personal, as before."""
    issue = example_issue()
    unmarked = dataclasses.replace(
        issue,
        html=re.sub(r"<!--/?nl:personal-->", "", issue.html),
        text=issue.text.replace("__NL_UNSUBSCRIBE_URL__", "http://127.0.0.1:8000/issues/"),
    )
    _, url = _setup(issue=unmarked)

    assert client.post(url, data={"email": "friend@example.org"}).status_code == 200

    html = body(parse(mailbox.accepted[0].data), "html")
    assert "You received this because" in html
    assert not re.search(r"/[upfc]/[A-Za-z0-9_-]+\.", html)
