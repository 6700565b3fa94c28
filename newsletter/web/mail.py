"""One-off messages from the web side (confirmations, forwards), sent as a one-message batch
through the configured transport.

These are single messages, so their body is built the plain way with `EmailMessage`; the
per-recipient fast path of `newsletter.mail.mime` is for campaigns. Their headers, which
carry what a visitor typed, are written by `newsletter.mail.headers` like every other header:
the stdlib's own folding would turn an encoded word in a name into headers of its own.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

from newsletter.core.errors import NewsletterError
from newsletter.core.settings import Settings
from newsletter.issue.model import Asset
from newsletter.mail.headers import (
    HEADER_WRITE_ERRORS,
    MessageError,
    address_header,
    ascii_address,
    fold,
    mailbox,
)
from newsletter.mail.mime import (
    add_inline_assets,
    format_date,
    new_message_id,
    sender_domain_of,
)
from newsletter.transports.base import Content, OutgoingMessage, Status, TransportError
from newsletter.transports.registry import make_transport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    to: str
    to_name: str
    subject: str
    html: str
    text: str
    # Inline images the HTML refers to by cid: (an issue composed with images=inline).
    inline: Sequence[Asset] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


def to_header(to: str, to_name: str) -> bytes:
    """The To header for a recipient; MessageError (naming the problem) when the address
    cannot go into one. Routes call it before they record anything."""
    return f"To: {mailbox(to_name, ascii_address(to, 'recipient address'))}\r\n".encode("ascii")


def build(settings: Settings, mail: Mail) -> bytes:
    """The message's bytes; MessageError when a header cannot be written safely."""
    head = [
        f"Date: {format_date()}\r\n".encode("ascii"),
        f"Message-ID: {new_message_id(sender_domain_of(settings.from_address))}\r\n".encode(),
        address_header("From", settings.from_address),
    ]
    if settings.reply_to:
        head.append(address_header("Reply-To", settings.reply_to))
    head += [to_header(mail.to, mail.to_name), fold("Subject", mail.subject)]
    for name, value in mail.headers.items():
        head.append(fold(name, value))
    # Only the MIME parts' own headers (Content-Type, ...) are left to the stdlib.
    message = EmailMessage(policy=policy.SMTP)
    message.set_content(mail.text, cte="quoted-printable")
    message.add_alternative(mail.html, subtype="html", cte="quoted-printable")
    if mail.inline:
        html_part = message.get_body(preferencelist=("html",))
        assert isinstance(html_part, EmailMessage)
        add_inline_assets(html_part, mail.inline)
    try:
        body = message.as_bytes(policy=policy.SMTP)
    except HEADER_WRITE_ERRORS as exc:
        # A patched Python refusing a header it would have written with a line break.
        raise MessageError(f"the message to {mail.to} cannot be written safely: {exc}") from exc
    return b"".join(head) + body


def send(settings: Settings, mail: Mail) -> bool:
    """Send one message; whether the transport accepted it. Failures are logged, not raised:
    the web page a visitor sees does not depend on the mail server's mood."""
    try:
        data = build(settings, mail)
        sender = email.utils.parseaddr(settings.from_address)[1]
        content = Content(
            subject=mail.subject,
            html=mail.html,
            text=mail.text,
            from_address=settings.from_address,
            reply_to=settings.reply_to,
        )
        outgoing = OutgoingMessage(key=0, recipient=mail.to, sender=sender, data=data)
        transport = make_transport(settings)
        try:
            outcomes = transport.send_batch(content, [outgoing])
        finally:
            transport.close()
    except (TransportError, NewsletterError, OSError, ValueError) as exc:
        log.error("could not send a message to %s: %s", mail.to, exc)
        return False
    outcome = outcomes[0]
    if outcome.status is not Status.SENT:
        log.error("the server did not take a message to %s: %s", mail.to, outcome.detail)
        return False
    return True
