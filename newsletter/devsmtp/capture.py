"""Captured mail: an aiosmtpd handler that accepts every message and keeps it in memory.

The SMTP side is the target of sends of thousands of messages, so accepting one costs a
lock and a dict insert (plus one file write with `save_dir`); nothing is parsed then.
The few header fields the inbox lists are parsed on first use and cached per message.
"""

from __future__ import annotations

import email.errors
import email.header
import email.utils
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from functools import cached_property
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import AuthResult

from newsletter.core.errors import NewsletterError

DEFAULT_LIMIT = 5000
# The end of the header block: the first empty line (CRLF on the wire, LF tolerated).
_HEADER_END = re.compile(rb"\r?\n\r?\n")


class DevSmtpError(NewsletterError):
    """The capture server cannot start: a bad option or a port that cannot be bound."""


@dataclass(frozen=True)
class Mailbox:
    """One address of a header: the display name (may be empty) and the address itself."""

    name: str
    address: str

    def __str__(self) -> str:
        # For reading, not for a header: formataddr would turn a non-ASCII name back
        # into an RFC 2047 word.
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class Summary:
    """What the inbox lists for a message, decoded from its header block alone."""

    subject: str
    sender: tuple[Mailbox, ...]
    to: tuple[Mailbox, ...]
    message_id: str
    date: str


@dataclass(frozen=True)
class CapturedMessage:
    id: str
    received_at: datetime
    envelope_from: str
    envelope_to: tuple[str, ...]
    raw: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.raw)

    @cached_property
    def summary(self) -> Summary:
        # cached_property writes the instance __dict__ directly, so it works on a frozen
        # dataclass; two threads racing here both compute the same value, which is harmless.
        return parse_summary(self.raw)

    def matches(self, query: str) -> bool:
        """Whether `query` (lower case) occurs in the subject or in any recipient."""
        # The envelope first: it needs no parsing.
        if any(query in recipient.lower() for recipient in self.envelope_to):
            return True
        summary = self.summary
        if query in summary.subject.lower():
            return True
        return any(query in str(box).lower() for box in summary.to)


def header_block(raw: bytes) -> bytes:
    end = _HEADER_END.search(raw)
    return raw if end is None else raw[: end.start()]


def parse_summary(raw: bytes) -> Summary:
    # compat32 parsing plus explicit decoding is several times faster than policy.default
    # header objects, which matters when a search first touches thousands of messages.
    headers = BytesHeaderParser().parsebytes(header_block(raw))
    return Summary(
        subject=decode_header_value(headers.get("Subject")),
        sender=_mailboxes(headers.get_all("From")),
        to=_mailboxes(headers.get_all("To")),
        message_id=decode_header_value(headers.get("Message-ID")).strip(),
        date=decode_header_value(headers.get("Date")).strip(),
    )


def decode_header_value(value: Any) -> str:
    """A header value with RFC 2047 words decoded; undecodable bytes become U+FFFD."""
    if value is None:
        return ""
    try:
        text = str(email.header.make_header(email.header.decode_header(value)))
    except (email.errors.HeaderParseError, LookupError, UnicodeError, ValueError):
        text = str(value)
    # Folded headers keep their line breaks in compat32; a summary wants one line.
    return " ".join(text.split())


def _mailboxes(values: list[Any] | None) -> tuple[Mailbox, ...]:
    if not values:
        return ()
    pairs = email.utils.getaddresses([str(value) for value in values])
    return tuple(Mailbox(decode_header_value(name), address) for name, address in pairs if address)


class MessageStore:
    """The captured messages, oldest first, at most `limit` of them; safe across threads.

    With `save_dir`, every accepted message is also written there as `<time>-<id>.eml`;
    files stay when the message is dropped from memory or the inbox is cleared.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT, save_dir: Path | None = None) -> None:
        if limit < 1:
            raise DevSmtpError(f"the message limit must be at least 1, not {limit}")
        self.limit = limit
        self.save_dir = save_dir
        self._messages: OrderedDict[str, CapturedMessage] = OrderedDict()
        self._dropped = 0
        self._lock = threading.Lock()
        if save_dir is not None:
            try:
                save_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DevSmtpError(f"cannot create {save_dir}: {exc.strerror or exc}") from None

    def add(self, envelope_from: str, envelope_to: list[str], raw: bytes) -> CapturedMessage:
        message = CapturedMessage(
            id=secrets.token_hex(8),
            received_at=datetime.now(UTC),
            envelope_from=envelope_from,
            envelope_to=tuple(envelope_to),
            raw=raw,
        )
        if self.save_dir is not None:
            self._save(message)
        with self._lock:
            self._messages[message.id] = message
            while len(self._messages) > self.limit:
                self._messages.popitem(last=False)
                self._dropped += 1
        return message

    def _save(self, message: CapturedMessage) -> None:
        assert self.save_dir is not None
        name = f"{message.received_at:%Y%m%dT%H%M%S%fZ}-{message.id}.eml"
        target = self.save_dir / name
        # Written under a dot name and renamed, so a reader never sees half a message.
        partial = self.save_dir / f".{name}.part"
        partial.write_bytes(message.raw)
        os.replace(partial, target)

    def get(self, message_id: str) -> CapturedMessage | None:
        with self._lock:
            return self._messages.get(message_id)

    def newest_first(self, query: str = "") -> list[CapturedMessage]:
        """Every message, newest first; with `query`, those whose subject or a recipient
        contains it, ignoring case."""
        with self._lock:
            messages = list(reversed(self._messages.values()))
        needle = query.strip().lower()
        if not needle:
            return messages
        return [message for message in messages if message.matches(needle)]

    def clear(self) -> int:
        """Forget every message; returns how many there were."""
        with self._lock:
            count = len(self._messages)
            self._messages.clear()
            return count

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)

    def __iter__(self) -> Iterator[CapturedMessage]:
        """Oldest first, over a snapshot."""
        with self._lock:
            return iter(list(self._messages.values()))

    @property
    def dropped(self) -> int:
        """How many messages were dropped to keep within `limit` since the start."""
        with self._lock:
            return self._dropped


class CaptureHandler:
    """The aiosmtpd handler: accepts any sender and recipient and stores the message."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content
        raw = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        try:
            message = self.store.add(envelope.mail_from or "", list(envelope.rcpt_tos), raw)
        except OSError as exc:
            # A full disk under --save: tell the sender to retry rather than lose the message.
            return f"451 4.3.0 cannot save the message: {exc.strerror or exc}"
        # The id in the reply lets a sender match its delivery to the inbox entry.
        return f"250 2.0.0 Ok: queued as {message.id}"


def accept_any_login(*_args: Any) -> AuthResult:
    """An aiosmtpd authenticator that accepts every user and password, so a sender
    configured with credentials can use the capture server unchanged."""
    return AuthResult(success=True)
