"""One-off messages from the web side (confirmations, forwards), sent as a one-message batch
through the configured transport.

These are single messages, so they are built the plain way with `EmailMessage`; the
per-recipient fast path of `newsletter.message` is for campaigns.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage

from newsletter.compose.issue import Asset
from newsletter.errors import NewsletterError
from newsletter.message import (
    add_inline_assets,
    format_date,
    new_message_id,
    sender_domain_of,
)
from newsletter.settings import Settings
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


def build(settings: Settings, mail: Mail) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    message["Date"] = format_date()
    message["Message-ID"] = new_message_id(sender_domain_of(settings.from_address))
    message["From"] = settings.from_address
    if settings.reply_to:
        message["Reply-To"] = settings.reply_to
    message["To"] = Address(display_name=mail.to_name, addr_spec=mail.to)
    message["Subject"] = mail.subject
    for name, value in mail.headers.items():
        message[name] = value
    message.set_content(mail.text, cte="quoted-printable")
    message.add_alternative(mail.html, subtype="html", cte="quoted-printable")
    if mail.inline:
        html_part = message.get_body(preferencelist=("html",))
        assert isinstance(html_part, EmailMessage)
        add_inline_assets(html_part, mail.inline)
    return message.as_bytes(policy=policy.SMTP)


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
