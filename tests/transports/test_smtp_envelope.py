"""Envelope addresses: an internationalised domain goes as IDNA (punycode), so only a
non-ASCII local part needs SMTPUTF8. Against real aiosmtpd servers, with and without it."""

from __future__ import annotations

from dataclasses import replace

from newsletter.transports.base import Outcome, Status
from newsletter.transports.smtp import SmtpTransport, parse_smtp_url
from tests.transports.conftest import make_content, make_message
from tests.transports.smtp_servers import Mailbox, smtp_server

# aiosmtpd's Controller offers SMTPUTF8 unless told not to.
NO_SMTPUTF8 = {"enable_SMTPUTF8": False}


def send_one(port: int, recipient: str, sender: str = "bounces@example.org") -> Outcome:
    transport = SmtpTransport(parse_smtp_url(f"smtp://127.0.0.1:{port}"), timeout=5)
    try:
        message = replace(make_message(1, recipient), sender=sender)
        [outcome] = transport.send_batch(make_content(), [message])
    finally:
        transport.close()
    return outcome


def test_an_idn_recipient_goes_with_its_punycode_domain_to_a_server_without_smtputf8() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, **NO_SMTPUTF8) as port:
        outcome = send_one(port, "user@bücher.example", sender="bounces@bücher.example")
    assert outcome.status is Status.SENT
    [accepted] = mailbox.accepted
    assert accepted.rcpt_tos == ("user@xn--bcher-kva.example",)
    assert accepted.mail_from == "bounces@xn--bcher-kva.example"


def test_a_non_ascii_local_part_fails_clearly_on_a_server_without_smtputf8() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, **NO_SMTPUTF8) as port:
        outcome = send_one(port, "ünï@bücher.example")
    assert outcome.status is Status.REJECTED
    detail = outcome.detail or ""
    assert "does not offer SMTPUTF8" in detail
    assert "non-ASCII local part of ünï@xn--bcher-kva.example" in detail
    assert mailbox.accepted == []


def test_a_non_ascii_local_part_goes_with_smtputf8_where_the_server_offers_it() -> None:
    mailbox = Mailbox()
    with smtp_server(mailbox, enable_SMTPUTF8=True) as port:
        outcome = send_one(port, "ünï@bücher.example")
    assert outcome.status is Status.SENT
    assert mailbox.recipients() == ["ünï@xn--bcher-kva.example"]
