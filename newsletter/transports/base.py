"""The one interface every way of delivering mail implements.

A transport receives a batch of messages for one campaign and answers, for each message in
the same order, whether the server took it (`SENT`), may take it later (`RETRY`), or refused
it for good (`REJECTED`). It raises `TransportError` only when the whole batch could not be
attempted and nothing in it was accepted (e.g. authentication failed, server unreachable).

Two views of each message are handed over, so each transport uses what its server speaks:
- `OutgoingMessage.data`: the complete RFC 5322 message for that recipient (SMTP, outbox,
  raw-MIME APIs);
- `Content` (once per batch) plus `OutgoingMessage.fields` and `.headers`: the issue with
  placeholders and the recipient's values, for APIs that substitute per recipient themselves
  (SendGrid personalizations, Mailgun recipient-variables, SES templates). In `Content.html`
  a placeholder must be replaced by the HTML-escaped value; in `.text` and `.subject` by the
  value as is.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from newsletter.errors import NewsletterError


class TransportError(NewsletterError):
    """The batch could not be attempted at all. `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Status(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Outcome:
    status: Status
    # The provider's message id, or the SMTP server's reply to DATA.
    provider_id: str | None = None
    # The server's words, kept on the delivery for staff to read.
    detail: str = ""
    # Seconds the server asked us to wait (Retry-After, SMTP 421 hints), if any.
    retry_after: float | None = None


@dataclass(frozen=True)
class Content:
    """The issue as sent in one campaign, with placeholders (see compose.issue.placeholder)."""

    subject: str
    html: str
    text: str
    from_address: str
    reply_to: str | None = None
    # Headers identical for every recipient (List-Id, campaign id header, ...).
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutgoingMessage:
    # The caller's handle for this message (the delivery id); echoed nowhere, used for logs.
    key: int
    recipient: str
    # The envelope sender (MAIL FROM / Return-Path) as a bare address.
    sender: str
    data: bytes
    # Values for the placeholders, unescaped.
    fields: Mapping[str, str] = field(default_factory=dict)
    # Headers that differ per recipient (Message-ID, List-Unsubscribe, ...).
    headers: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Transport(Protocol):
    name: str
    # The largest batch worth handing over in one call.
    max_batch: int

    def send_batch(
        self, content: Content, messages: Sequence[OutgoingMessage]
    ) -> list[Outcome]: ...

    def close(self) -> None: ...
