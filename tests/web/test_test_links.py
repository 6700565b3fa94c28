"""A test message's links, opened as staff open them: a real test message sent through the
campaign service to a real SMTP server (aiosmtpd), then every link in it followed."""

from __future__ import annotations

import dataclasses
import re

import pytest
from fastapi.testclient import TestClient

from newsletter.core.settings import get_settings
from newsletter.core.tokens import Token
from newsletter.sending.service import CampaignService
from newsletter.store.lists import set_list_language
from tests.store.databases import current_engine, session_scope
from tests.transports.smtp_servers import Mailbox
from tests.web.helpers import (
    BAD_LINK_TITLE,
    body,
    example_issue,
    new_campaign,
    new_list,
    new_member,
    parse,
    sign,
    snapshot,
)

TEST_PAGE = "This was a test message"
SLUG = "2023-03-21-water-and-peace-sharing-rivers"
_PERSONAL_LINK = re.compile(r"https?://[^/\s\"<>]+(/[upf]/[A-Za-z0-9_.-]+)")


def _test_message(
    mailbox: Mailbox, list_name: str | None = None, language: str = "en"
) -> tuple[str, str, str]:
    """A test message of the example issue, sent as the staff area (no list) or `newsletter
    send --test-to` (to a list) sends one: its subject, HTML and text."""
    service = CampaignService(get_settings(), current_engine())
    audience = service.audience(list_name) if list_name is not None else None
    issue = dataclasses.replace(example_issue(), language=language)
    with service.draft(issue, audience) as draft:
        draft.send_test("editor@example.org")
    message = parse(mailbox.accepted[-1].data)
    header = message["List-Unsubscribe"]
    return message["Subject"], body(message, "html") + header, body(message, "plain")


def _paths(part: str) -> list[str]:
    return sorted(set(_PERSONAL_LINK.findall(part)))


def test_every_personal_link_of_a_test_message_explains_and_changes_nothing(
    client: TestClient, mailbox: Mailbox
) -> None:
    new_member("ana@example.org", new_list("members"))
    subject, html, text = _test_message(mailbox, "members")
    assert subject.startswith("[Test] ")
    paths = _paths(html)
    assert [path[:3] for path in paths] == ["/f/", "/p/", "/u/"]
    assert _paths(text) == paths
    before = snapshot()

    for path in paths:
        page = client.get(path)
        assert page.status_code == 200, path
        assert TEST_PAGE in page.text and BAD_LINK_TITLE not in page.text
        assert "no subscription was changed" in page.text
    what = {path[1]: client.get(path).text for path in paths}
    assert "lets the reader unsubscribe" in what["u"]
    assert "choose their lists" in what["p"]
    assert "send it to a friend" in what["f"]
    # The buttons and the mail client's one-click unsubscribe (RFC 8058) do nothing either.
    unsubscribe = next(path for path in paths if path.startswith("/u/"))
    one_click = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and TEST_PAGE in one_click.text
    assert client.post(unsubscribe, data={"action": "unsubscribe"}).status_code == 200
    forward = next(path for path in paths if path.startswith("/f/"))
    assert TEST_PAGE in client.post(forward, data={"email": "friend@example.org"}).text
    assert snapshot() == before
    assert len(mailbox.accepted) == 1


def test_a_staff_test_message_to_no_list_has_working_links_too(
    client: TestClient, mailbox: Mailbox
) -> None:
    _, html, _ = _test_message(mailbox)
    for path in _paths(html):
        page = client.get(path)
        assert page.status_code == 200 and TEST_PAGE in page.text


def test_the_page_speaks_the_lists_language(client: TestClient, mailbox: Mailbox) -> None:
    new_list("urdu")
    with session_scope(write=True) as session:
        set_list_language(session, "urdu", "ur")
    _, html, _ = _test_message(mailbox, "urdu")

    page = client.get(_paths(html)[-1])

    assert page.status_code == 200
    assert "یہ ایک ٹیسٹ پیغام تھا" in page.text
    assert TEST_PAGE not in page.text
    assert 'dir="rtl"' in page.text


def test_a_test_to_no_list_speaks_the_issues_language(client: TestClient, mailbox: Mailbox) -> None:
    """Sent for no list, a test's links name the issue's language, and their page speaks it."""
    _, html, _ = _test_message(mailbox, language="ur")
    links = sorted(set(re.findall(r"https?://[^/\s\"<>]+(/[upf]/[A-Za-z0-9_.-]+\?lang=ur)", html)))
    assert [link[:3] for link in links] == ["/f/", "/p/", "/u/"]
    for link in links:
        page = client.get(link)
        assert page.status_code == 200
        assert "یہ ایک ٹیسٹ پیغام تھا" in page.text and 'dir="rtl"' in page.text
    one_click = client.post(links[-1], data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and "یہ ایک ٹیسٹ پیغام تھا" in one_click.text
    # A language that does not ship, or none, is English.
    path = links[-1].split("?")[0]
    assert TEST_PAGE in client.get(f"{path}?lang=xx").text
    assert TEST_PAGE in client.get(path).text


@pytest.mark.parametrize("purpose", ["u", "p", "f"])
def test_a_real_token_with_a_test_messages_ids_is_an_ordinary_bad_link(
    client: TestClient, mailbox: Mailbox, purpose: str
) -> None:
    """What tells a test link apart is its MAC, not its ids: subscriber 0 signed as a real
    token is just a link to nobody."""
    page = client.get(f"/{purpose}/{sign(Token(purpose, 0))}")  # type: ignore[arg-type]
    assert page.status_code == 400 and BAD_LINK_TITLE in page.text


def test_the_web_version_and_pdf_links_say_the_issue_is_not_published_yet(
    client: TestClient, mailbox: Mailbox
) -> None:
    _, html, text = _test_message(mailbox)
    web = f"/issues/{SLUG}/?test=en"
    pdf = f"/issues/{SLUG}/newsletter.pdf?test=en"
    for part in (html, text):
        assert f"http://127.0.0.1:8000{web}" in part and f"http://127.0.0.1:8000{pdf}" in part

    for path in (web, pdf):
        page = client.get(path)
        assert page.status_code == 404
        assert "This issue is not published yet" in page.text
        assert "comes from a test message" in page.text
    # In the issue's language; a language that does not ship speaks English.
    assert "یہ شمارہ ابھی شائع نہیں ہوا" in client.get(f"/issues/{SLUG}/?test=ur-PK").text
    assert "not published yet" in client.get(f"/issues/{SLUG}/?test=xx-unknown").text
    # Without the mark, the address is just one with no issue behind it.
    assert "not published yet" not in client.get(f"/issues/{SLUG}/").text

    # Once published, the same link opens the web version.
    new_campaign(new_list("members"))
    published = client.get(web)
    assert published.status_code == 200 and "Water and Peace" in published.text
