"""A campaign's messages: the template built once, then one cheap render per recipient.

Every message carries, besides the issue: a Message-ID unique to its delivery and the same
on every attempt (`<token.delivery-id@sender-domain>`), Date, List-Unsubscribe with the
recipient's signed token and List-Unsubscribe-Post (RFC 8058), List-Id
(`Name <list-label.sender-domain>`, RFC 2919) and `X-Newsletter-Campaign: ID`, and a DKIM
signature over all of them when DKIM is configured.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from email.utils import parseaddr

from newsletter.core.links import Links
from newsletter.issue.model import Issue
from newsletter.mail.dkim import DkimSigner
from newsletter.mail.headers import list_id as list_id_value
from newsletter.mail.mime import MessageTemplate, mailto_url, sender_domain_of
from newsletter.mail.personalize import Personalizer, Recipient
from newsletter.store.campaigns import Sender
from newsletter.transports.base import Content, OutgoingMessage

CAMPAIGN_HEADER = "X-Newsletter-Campaign"
ONE_CLICK = "List-Unsubscribe=One-Click"
# Transports that send our own bytes, so our DKIM signature reaches the receiver; the
# HTTP APIs build their own message and sign it with the provider's key.
RAW_TRANSPORTS = frozenset({"smtp", "ses", "outbox"})

_LABEL_JUNK = re.compile(r"[^a-z0-9]+")


def list_label(name: str, list_id: int) -> str:
    """The list's name as a DNS label for List-Id: lower case, letters, digits, hyphens;
    `list-ID` when nothing of the name is left (a name in another script)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    label = _LABEL_JUNK.sub("-", ascii_name.lower()).strip("-")[:63].strip("-")
    return label or f"list-{list_id}"


def list_id_header(list_name: str, list_id: int, sender_domain: str) -> str:
    """The List-Id value, already in header form (newsletter.mail.headers writes the name)."""
    name = " ".join(list_name.split())
    return list_id_value(name, f"{list_label(list_name, list_id)}.{sender_domain}")


def message_id(token: str, delivery_id: int, sender_domain: str) -> str:
    return f"<{token}.{delivery_id}@{sender_domain}>"


def envelope_sender(from_address: str, return_path: str | None) -> str:
    """The bare address for MAIL FROM: the return path, or the From address."""
    return return_path or parseaddr(from_address)[1]


@dataclass(frozen=True)
class CampaignMessages:
    """What a campaign's messages are made of (from the campaign row or, for a dry run or
    a test message, from the settings)."""

    campaign_id: int
    token: str
    list_id: int
    list_name: str
    issue: Issue
    sender: Sender


@dataclass(frozen=True)
class Addressee:
    """One delivery's recipient, as the runner claimed it."""

    key: int
    subscriber_id: int
    email: str
    name: str
    version: int


class MessageFactory:
    def __init__(
        self, source: CampaignMessages, *, key: bytes, signer: DkimSigner | None = None
    ) -> None:
        self.source = source
        sender = source.sender
        self.domain = sender_domain_of(sender.from_address)
        self.signer = signer
        list_header = list_id_header(source.list_name, source.list_id, self.domain)
        shared = {
            "List-Id": list_header,
            "List-Unsubscribe-Post": ONE_CLICK,
            CAMPAIGN_HEADER: str(source.campaign_id),
        }
        self.template = MessageTemplate.build(
            source.issue,
            from_address=sender.from_address,
            reply_to=sender.reply_to,
            list_id=list_header,
            unsubscribe_mailto=sender.unsubscribe_mailto,
            extra_headers={CAMPAIGN_HEADER: str(source.campaign_id)},
            sender_domain=self.domain,
        )
        self.personalizer = Personalizer(self.template, key=key, links=Links(sender.public_url))
        self.mailto = mailto_url(sender.unsubscribe_mailto) if sender.unsubscribe_mailto else None
        self.content = Content(
            subject=source.issue.subject,
            html=source.issue.html,
            text=source.issue.text,
            from_address=sender.from_address,
            reply_to=sender.reply_to,
            headers=shared,
        )

    def message_id(self, delivery_id: int) -> str:
        return message_id(self.source.token, delivery_id, self.domain)

    def build(self, addressee: Addressee, *, message_id: str | None = None) -> OutgoingMessage:
        """The message for one recipient; MessageError (or DkimError) if it cannot be made."""
        source = self.source
        recipient = Recipient(
            email=addressee.email,
            name=addressee.name,
            subscriber_id=addressee.subscriber_id,
            list_id=source.list_id,
            version=addressee.version,
            campaign_id=source.campaign_id,
        )
        fields = self.personalizer.fields(recipient)
        mid = message_id or self.message_id(addressee.key)
        data = self.template.render(
            fields, to=addressee.email, to_name=addressee.name, message_id=mid
        )
        if self.signer is not None:
            data = self.signer.sign(data)
        unsubscribe = f"<{fields['unsubscribe_url']}>"
        if self.mailto:
            unsubscribe += f", <{self.mailto}>"
        return OutgoingMessage(
            key=addressee.key,
            recipient=addressee.email,
            sender=source.sender.return_path,
            data=data,
            fields=fields,
            headers={"Message-ID": mid, "List-Unsubscribe": unsubscribe},
        )
