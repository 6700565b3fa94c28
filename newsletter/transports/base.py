"""The one interface every way of delivering mail implements.

A transport receives a batch of messages for one campaign and answers, for each message in
the same order, whether the server took it (`SENT`), may take it later (`RETRY`), refused
it for good (`REJECTED`), or was handed it without answering (`UNCONFIRMED`). A `RETRY`
says whether the server was unreachable (an outage) or had the whole message and never
answered (`unanswered`: sent again, may be duplicated). It raises `TransportError` only
when the whole batch could not be attempted and nothing in it was accepted (e.g.
authentication failed, server unreachable).

Two views of each message are handed over, so each transport uses what its server speaks:
- `OutgoingMessage.data`: the complete RFC 5322 message for that recipient (SMTP, outbox,
  raw-MIME APIs);
- `Content` (once per batch) plus `OutgoingMessage.fields` and `.headers`: the issue with
  placeholders and the recipient's values, for APIs that substitute per recipient themselves
  (SendGrid personalizations, Mailgun recipient-variables, SES templates). In `Content.html`
  a placeholder must be replaced by the HTML-escaped value; in `.text` and `.subject` by the
  value as is.

Two optional helpers come with each batch, both from the campaign runner:
- a `Limiter`, acquired once per message (or per request for a batch API) right before
  it goes, so one rate limit covers every connection and thread;
- a `Journal`, told `point_of_no_return(key)` right before the act that hands a message
  over for good (SMTP: writing the end-of-data dot; an HTTP API: sending the request).
  It makes that fact durable before returning, so a sender killed at any moment can tell,
  on resume, which messages may have reached the server (never sent again) from those
  that cannot have (sent again). `not_accepted(key)` takes it back when the server
  answered the hand-over with a refusal, or did not answer at all while the sender lived.
  Both are called from the transport's threads.

`Transport.send_batch` wraps the two in a `HandOver`, standing in null objects for those not
given, so every transport takes its turn, marks and takes back in the same words and
none of them asks whether there is a journal.
"""

from __future__ import annotations

import contextlib
import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from newsletter.core.errors import NewsletterError
from newsletter.issue.model import Asset


class TransportError(NewsletterError):
    """The batch could not be attempted at all. `permanent` says whether retrying can help;
    `unreachable` that the server could not be reached (see `Outcome.unreachable`)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        unreachable: bool = False,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.unreachable = unreachable


class Status(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    REJECTED = "rejected"
    # Handed over, but no answer came (an HTTP read timeout): the provider may well have
    # taken it. Counted as sent, because sending again risks a second copy, and as not
    # accepted by the error-storm watch, so a provider that stops answering pauses the
    # campaign instead of swallowing the list.
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class Outcome:
    status: Status
    # The provider's message id, or the SMTP server's reply to DATA.
    provider_id: str | None = None
    # The server's words, kept on the delivery for staff to read.
    detail: str = ""
    # Seconds the server asked us to wait (Retry-After, SMTP 421 hints), if any.
    retry_after: float | None = None
    # RETRY only. The server could not be reached or went away before it took anything
    # (refused or timed-out connection, connection lost before the end of data, 421): an
    # outage, not this message's fault, so it costs no attempt and is tried again for
    # NEWSLETTER_OUTAGE_WINDOW before the campaign pauses.
    unreachable: bool = False
    # RETRY only. The whole message went out (SMTP: the end-of-data dot) but no reply came:
    # the server may have kept it, so sending it again may duplicate it (same Message-ID).
    unanswered: bool = False


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
    # The images `html` refers to as `cid:{asset.cid}` (NEWSLETTER_IMAGES=inline), for a
    # transport that builds the message itself to attach inline; none when hosted.
    images: tuple[Asset, ...] = ()


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


class Journal(Protocol):
    def point_of_no_return(self, *keys: int, final: bool = False) -> None:
        """These messages are about to be handed over; durable when this returns.

        If it raises, the transport must not hand them over (and answer RETRY). `final`:
        they count as sent whether an answer comes or not (an API request, where only the
        provider knows whether it arrived, and a whole batch twice is the worse failure);
        otherwise, until `handed_over`, a sender killed meanwhile has them sent again."""

    def handed_over(self, *keys: int) -> None:
        """These messages have been handed over: the end of data was written (the reply
        may not have come yet). Durable when this returns."""

    def not_accepted(self, *keys: int) -> None:
        """The server refused these messages after all (a non-2xx reply to end of data),
        or never answered and they are to be sent again (`Outcome.unanswered`)."""


class Limiter(Protocol):
    def acquire(self, n: int = 1) -> None:
        """Block until `n` messages may go (newsletter.sending.ratelimit.RateLimiter)."""


class NullJournal:
    """The journal of a send that no later run resumes (a test send, a benchmark)."""

    def point_of_no_return(self, *keys: int, final: bool = False) -> None:
        pass

    def handed_over(self, *keys: int) -> None:
        pass

    def not_accepted(self, *keys: int) -> None:
        pass


class NullLimiter:
    """No rate limit."""

    def acquire(self, n: int = 1) -> None:
        pass


NULL_JOURNAL = NullJournal()
NULL_LIMITER = NullLimiter()


@dataclass(frozen=True)
class HandOver:
    """A batch's journal and limiter, in the steps every transport takes with them:
    `wait` for its turn, `commit` right before the act that hands messages over for good,
    `take_back` (or `answered`) what the server did not accept after all."""

    transport: str
    journal: Journal = NULL_JOURNAL
    limiter: Limiter = NULL_LIMITER

    @classmethod
    def of(cls, transport: str, journal: Journal | None, limiter: Limiter | None) -> HandOver:
        return cls(
            transport,
            NULL_JOURNAL if journal is None else journal,
            NULL_LIMITER if limiter is None else limiter,
        )

    def wait(self, count: int = 1) -> None:
        self.limiter.acquire(count)

    def commit(self, *keys: int, final: bool = False) -> None:
        """The journal's point of no return. A TransportError when it cannot be recorded:
        the messages must then not go, since a crash would leave no trace of them."""
        try:
            self.journal.point_of_no_return(*keys, final=final)
        except Exception as exc:
            raise TransportError(
                f"{self.transport}: not sent, the hand-over could not be recorded: {exc}"
            ) from exc

    def before(self, messages: Sequence[OutgoingMessage]) -> None:
        """`wait` and `commit` for a request that carries `messages` at once."""
        self.wait(len(messages))
        self.commit(*(message.key for message in messages), final=True)

    def handed_over(self, *keys: int) -> None:
        """These messages have left (the end of data is written). When that cannot be
        recorded the send goes on as it is: the server's reply decides the outcome all the
        same, and only a crash before the outcome is written would send them again (with
        the same Message-ID)."""
        # Any of the journal's own database trouble: see above.
        with contextlib.suppress(Exception):
            self.journal.handed_over(*keys)

    def take_back(self, *keys: int) -> None:
        if keys:
            self.journal.not_accepted(*keys)

    def answered(self, messages: Sequence[OutgoingMessage], outcomes: Sequence[Outcome]) -> None:
        """Takes back every message the answer did not accept."""
        self.take_back(
            *(m.key for m, o in zip(messages, outcomes, strict=True) if o.status is not Status.SENT)
        )


class Transport(ABC):
    name: str
    # The largest batch worth handing over in one call.
    max_batch: int
    # True: it sends `OutgoingMessage.data` (so the caller builds, and signs, the full
    # message per recipient). False: it reads only `Content`, `.fields` and `.headers`, and
    # `.data` may be left empty.
    wants_raw: bool

    def send_batch(
        self,
        content: Content,
        messages: Sequence[OutgoingMessage],
        journal: Journal | None = None,
        limiter: Limiter | None = None,
    ) -> list[Outcome]:
        """One outcome per message, in order (see the module's docstring)."""
        if not messages:
            return []
        return self.deliver(content, messages, HandOver.of(self.name, journal, limiter))

    @abstractmethod
    def deliver(
        self, content: Content, messages: Sequence[OutgoingMessage], hand_over: HandOver
    ) -> list[Outcome]:
        """`send_batch` for one message or more."""

    @abstractmethod
    def close(self) -> None: ...
