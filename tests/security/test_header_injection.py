"""Header injection through RFC 2047 encoded words (CVE-2024-6923 on Python 3.11.7).

A name `=?utf-8?b?...?=` holds no raw CR or LF, so it passed every check; the stdlib's
header folding then decoded it and wrote the CR LF it decodes to, giving the attacker
headers and a body. Each test here sends the attack through the real path (the sign-up
route, a campaign through the runner to an SMTP server) and parses the bytes the server
accepted with the stdlib parser.
"""

from __future__ import annotations

import base64
import email
import email.errors
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage, MIMEPart

import pytest
from fastapi.testclient import TestClient

from newsletter.core.settings import Settings, get_settings
from newsletter.issue.model import Asset, placeholder
from newsletter.mail import mime
from newsletter.mail.factory import Letter, letter_message
from newsletter.mail.headers import MessageError
from newsletter.sending.runner import Runner
from newsletter.store.lists import create_list
from newsletter.store.subscriptions import subscribe
from newsletter.web import create_app
from tests.browser import wait_for
from tests.sending import helpers as sending
from tests.store.databases import current_engine, session_scope
from tests.transports.smtp_servers import Mailbox, smtp_server
from tests.web.helpers import new_campaign, new_list, new_member, rows, snapshot

PAYLOAD = b"\r\nReply-To: attacker@evil.example\r\nX-Injected: 1\r\n\r\nPHISH"
ATTACK = f"=?utf-8?b?{base64.b64encode(PAYLOAD).decode()}?="
# What a reader would have seen: the decoded text, on one line.
SHOWN = "Reply-To: attacker@evil.example X-Injected: 1 PHISH"
LONG_NAME = "Reader: Ana, the <boss> of everything, Dept. of Very Long Names; and more more x"
DEADLINE = 10.0


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) the app sends through, without SMTPUTF8."""
    handler = Mailbox()
    # aiosmtpd's Controller offers SMTPUTF8 unless told not to.
    with smtp_server(handler, enable_SMTPUTF8=False) as port:
        monkeypatch.setenv("NEWSLETTER_TRANSPORT", "smtp")
        monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("NEWSLETTER_SMTP_CONNECTIONS", "1")
        get_settings.cache_clear()
        yield handler


@pytest.fixture
def client(sqlite_db: str, mailbox: Mailbox) -> Iterator[TestClient]:
    with TestClient(create_app(Settings()), follow_redirects=False) as test_client:
        yield test_client


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_not_injected(message: EmailMessage, data: bytes) -> None:
    head = data.split(b"\r\n\r\n", 1)[0]
    assert message["X-Injected"] is None
    assert b"\r\nX-Injected:" not in head
    assert all("evil.example" not in str(value) for value in message.get_all("Reply-To", []))
    assert b"\r\nReply-To: attacker" not in head
    # The body is the message's own, not the attacker's "PHISH" after a blank line.
    assert message.get_content_type().startswith("multipart/")
    assert b"\r\n\r\nPHISH" not in data
    assert not message.defects


def wait_for_mail(mailbox: Mailbox, count: int = 1) -> None:
    # The sign-up page answers before its mail goes (newsletter.web.outbox).
    wait_for(lambda: len(mailbox.accepted) >= count, timeout=DEADLINE, what=f"{count} message(s)")


# Through the sign-up route


def test_an_encoded_word_name_on_the_sign_up_form_injects_nothing(
    client: TestClient, mailbox: Mailbox
) -> None:
    new_list("members")
    response = client.post(
        "/subscribe/members", data={"email": "victim@example.org", "name": ATTACK}
    )
    assert response.status_code == 200
    wait_for_mail(mailbox)
    data = mailbox.accepted[0].data
    message = parse(data)
    assert_not_injected(message, data)
    addresses = message["To"].addresses
    assert len(addresses) == 1
    assert addresses[0].addr_spec == "victim@example.org"
    assert addresses[0].display_name == SHOWN
    # The name is kept as the reader saw it, not as encoded words to decode again.
    assert rows("SELECT name FROM subscribers") == [(SHOWN,)]


def test_a_long_name_with_specials_stays_one_quoted_mailbox(
    client: TestClient, mailbox: Mailbox
) -> None:
    assert len(LONG_NAME) > 78
    new_list("members")
    response = client.post(
        "/subscribe/members", data={"email": "ana@example.org", "name": LONG_NAME}
    )
    assert response.status_code == 200
    wait_for_mail(mailbox)
    message = parse(mailbox.accepted[0].data)
    addresses = message["To"].addresses
    assert len(addresses) == 1
    assert (addresses[0].display_name, addresses[0].addr_spec) == (LONG_NAME, "ana@example.org")


def test_an_address_no_header_can_hold_is_a_clear_400_and_nothing_is_stored(
    client: TestClient, mailbox: Mailbox
) -> None:
    new_list("members")
    before = rows("SELECT email FROM subscribers")
    response = client.post("/subscribe/members", data={"email": "ünï@example.org", "name": "Ü"})
    assert response.status_code == 400
    assert "non-ASCII local part" in response.text
    assert rows("SELECT email FROM subscribers") == before
    assert mailbox.accepted == []


def test_a_header_write_error_is_a_message_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A patched Python (3.11.10, 3.12.5 and later) raises HeaderWriteError where 3.11.7
    # wrote the injected header. This venv's Python has no such class, so one stands in.
    error = getattr(email.errors, "HeaderWriteError", None)
    if error is None:
        error = type("HeaderWriteError", (email.errors.MessageError,), {})
        monkeypatch.setattr(mime, "HEADER_WRITE_ERRORS", (error,))

    def refuse(self: MIMEPart, *args: object, **kwargs: object) -> bytes:
        raise error("folded header contains newline")

    # The stdlib writes no header of ours, only those of an inline image's part.
    monkeypatch.setattr(MIMEPart, "as_bytes", refuse)
    photo = Asset("photo.png", "image/png", b"\x89PNG\r\n\x1a\n")
    mail = Letter(
        to="a@example.org", to_name="A", subject="S", html="<p>x</p>", text="x", inline=(photo,)
    )
    with pytest.raises(MessageError, match="cannot be written safely"):
        letter_message(mail, from_address=Settings(_env_file=None).from_address)


def test_a_message_error_in_a_request_is_a_clear_400_and_nothing_is_sent(
    client: TestClient, mailbox: Mailbox
) -> None:
    # A friend's address no header can hold: the app's handler for MessageError (and
    # HeaderWriteError) answers 400 with the reason, before anything is recorded.
    list_id = new_list("members")
    member = new_member("ana@example.org", list_id, name="Ana")
    campaign = new_campaign(list_id)
    before = snapshot()
    response = client.post(
        f"/f/{member.token('f', campaign_id=campaign.id)}", data={"email": "ünï@example.org"}
    )
    assert response.status_code == 400
    assert "non-ASCII local part" in response.text
    assert snapshot() == before
    assert mailbox.accepted == []


# Through a campaign, from the store to an SMTP server


def _campaign_to(list_name: str, name: str, subject: str) -> bytes:
    with session_scope(write=True) as session:
        list_id = create_list(session, list_name).id
        subscribe(session, list_id, "victim@example.net", name=name, source="test")
    audience = sending.Audience(list_id, list_name, ["victim@example.net"], [])
    campaign_id = sending.new_campaign(audience, issue=sending.small_issue(subject=subject))
    mailbox = Mailbox()
    with smtp_server(mailbox) as port:
        transport = sending.smtp_transport(port, 1)
        try:
            Runner(
                campaign_id,
                transport,
                settings=sending.sending_settings(),
                engine=current_engine(),
            ).run()
        finally:
            transport.close()
    assert len(mailbox.accepted) == 1
    return mailbox.accepted[0].data


def test_a_personalised_subject_with_an_encoded_word_name_injects_nothing(
    sqlite_db: str,
) -> None:
    data = _campaign_to("members", ATTACK, f"News for {placeholder('name')}")
    message = parse(data)
    assert_not_injected(message, data)
    assert message["Subject"] == f"News for {SHOWN}"
    assert len(message["To"].addresses) == 1


def test_a_list_name_with_an_encoded_word_injects_nothing_into_list_id(sqlite_db: str) -> None:
    data = _campaign_to(ATTACK, "Ana", "A Small Seminar")
    message = parse(data)
    assert_not_injected(message, data)
    list_id = str(message["List-Id"])
    assert list_id.endswith(">") and "\n" not in list_id
    assert SHOWN in list_id
