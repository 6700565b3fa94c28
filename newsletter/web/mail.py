"""One-off messages from the web side (confirmations, forwards), sent as a one-message batch
through the configured transport. They are written by the factory campaigns use
(newsletter.mail.factory.letter_message), headers that carry what a visitor typed included.
"""

from __future__ import annotations

import email.utils
import logging

from newsletter.core.errors import NewsletterError
from newsletter.core.settings import Settings
from newsletter.mail.factory import Letter, letter_message
from newsletter.mail.headers import ascii_address, mailbox
from newsletter.transports.base import Content, OutgoingMessage, Status, TransportError
from newsletter.transports.registry import make_transport

log = logging.getLogger(__name__)


def to_header(to: str, to_name: str) -> bytes:
    """The To header for a recipient; MessageError (naming the problem) when the address
    cannot go into one. Routes call it before they record anything."""
    return f"To: {mailbox(to_name, ascii_address(to, 'recipient address'))}\r\n".encode("ascii")


def send(settings: Settings, letter: Letter) -> bool:
    """Send one message; whether the transport accepted it. Failures are logged, not raised:
    the web page a visitor sees does not depend on the mail server's mood."""
    try:
        data = letter_message(
            letter, from_address=settings.from_address, reply_to=settings.reply_to
        )
        sender = email.utils.parseaddr(settings.from_address)[1]
        content = Content(
            subject=letter.subject,
            html=letter.html,
            text=letter.text,
            from_address=settings.from_address,
            reply_to=settings.reply_to,
        )
        outgoing = OutgoingMessage(key=0, recipient=letter.to, sender=sender, data=data)
        transport = make_transport(settings)
        try:
            outcomes = transport.send_batch(content, [outgoing])
        finally:
            transport.close()
    except (TransportError, NewsletterError, OSError, ValueError) as exc:
        log.error("could not send a message to %s: %s", letter.to, exc)
        return False
    outcome = outcomes[0]
    if outcome.status is not Status.SENT:
        log.error("the server did not take a message to %s: %s", letter.to, outcome.detail)
        return False
    return True
