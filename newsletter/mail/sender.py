"""Who a campaign's messages come from: a plain value the store keeps with each campaign, so
a resumed campaign is sent as it was confirmed whatever the settings say meanwhile."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.core.settings import Settings


@dataclass(frozen=True)
class Sender:
    """The addresses and URL a campaign's messages are made with."""

    from_address: str
    reply_to: str | None
    return_path: str
    unsubscribe_mailto: str | None
    public_url: str


def envelope_sender(from_address: str, return_path: str | None) -> str:
    """The bare address for MAIL FROM: the return path, or the From address."""
    return return_path or parseaddr(from_address)[1]


def sender_of(settings: Settings) -> Sender:
    """The sender the settings describe, for a new campaign, a test message or a sample."""
    return Sender(
        from_address=settings.from_address,
        reply_to=settings.reply_to,
        return_path=envelope_sender(settings.from_address, settings.return_path),
        unsubscribe_mailto=settings.unsubscribe_mailto,
        public_url=settings.public_url,
    )
