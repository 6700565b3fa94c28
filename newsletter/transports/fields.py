"""What the API transports share about a message: its field values, headers and addresses.

The SMTP, SES and outbox transports send `OutgoingMessage.data` as it is; the HTTP APIs
rebuild the message from `Content` plus these pieces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from email.utils import parseaddr

from newsletter.mail.headers import clean_text
from newsletter.transports.base import Content, OutgoingMessage, TransportError

# The provider writes these itself from the API's own fields (or must not get ours: a DKIM
# signature over headers the provider rewrites would fail). Compared in lower case.
PROVIDER_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "reply-to",
        "sender",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "dkim-signature",
        "received",
        "return-path",
    }
)


# RFC 5322 specials (and control characters): a display name with any of them is quoted.
_NEEDS_QUOTES = re.compile(r'[()<>\[\]:;@\\,."\x00-\x1f\x7f]')


def field_values(message: OutgoingMessage, names: Iterable[str]) -> dict[str, str]:
    """The recipient's values for `names`; a missing one is a bug upstream, so it stops all."""
    values = dict(message.fields)
    values.setdefault("email", message.recipient)
    missing = sorted(name for name in set(names) if name not in values)
    if missing:
        raise TransportError(
            f"message {message.key} to {message.recipient} has no value for {', '.join(missing)}",
            permanent=True,
        )
    return values


def _checked(headers: Mapping[str, str], owner: str) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in PROVIDER_HEADERS:
            continue
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name or ":" in name:
            raise TransportError(f"header {name!r} of {owner} is malformed", permanent=True)
        kept[name] = value
    return kept


def shared_headers(content: Content) -> dict[str, str]:
    """The campaign's headers that an API accepts as custom headers."""
    return _checked(content.headers, "the campaign")


def personal_headers(message: OutgoingMessage) -> dict[str, str]:
    """The recipient's headers that an API accepts as custom headers."""
    return _checked(message.headers, f"message {message.key}")


def split_address(text: str) -> tuple[str, str]:
    """`Name <addr>` or `addr` as (name, addr); an address without `@` stops the batch."""
    name, address = parseaddr(text)
    if "@" not in address:
        raise TransportError(f"not an email address: {text!r}", permanent=True)
    return name, address


def recipient_display(message: OutgoingMessage) -> str:
    """The To address with the recipient's name when the fields carry one, quoted as
    RFC 5322 needs but not encoded: the APIs take UTF-8 and encode headers themselves.
    Cleaned as every name is (newsletter.mail.headers), so no encoded word reaches their folding."""
    name = " ".join(clean_text(message.fields.get("name", "")).split())
    if not name:
        return message.recipient
    if _NEEDS_QUOTES.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{message.recipient}>"
