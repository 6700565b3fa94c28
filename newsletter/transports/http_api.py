"""What every HTTP mail API transport shares: one session, batching, and the send loop.

Each provider is three steps, in the django-anymail style:
`build_payload(content, messages)` (pure) → `post(payload)` (the only I/O) →
`parse_status(response, messages)` (pure, one `Outcome` per message in order).

`parse_status` may answer two markers instead of a final outcome, and `send_batch` acts on
them at once rather than handing the work to the campaign runner's backoff:
- `SPLIT`: the provider refused the request because of some message in it without saying
  which (Mailgun's invalid `to`, a payload too large). The batch is halved and each half
  sent again, until the culprit stands alone and is rejected.
- `BYSTANDER`: the provider refused the whole request because of other, named messages
  (SendGrid's 400 naming personalizations); this one was fine and is sent again without them.

A batch becomes as many requests as needed: at most `request_limit` messages each, every
address once per request (the APIs refuse or merge duplicates). When no connection to the
provider can be made the batch raises a non-permanent TransportError marked `unreachable`,
an outage the runner waits out; when the request went out but no answer came in time, its
messages are UNCONFIRMED (counted as sent, with a detail saying they may have been
accepted), since only the provider knows.

Before each request the limiter is asked for as many messages as the request carries, and
the journal is told the request's keys (`point_of_no_return`): a sender killed while a
request is in flight cannot know whether the provider took it, so its messages count as
sent and are never sent again (at most once). Messages the answer refuses or defers are
taken back at once (`not_accepted`).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from newsletter.core.errors import ConfigError
from newsletter.transports.base import (
    Content,
    HandOver,
    Outcome,
    OutgoingMessage,
    Status,
    Transport,
    TransportError,
)

CONNECT_TIMEOUT = 10.0
USER_AGENT = "newsletter (+transports)"

SPLIT = Outcome(Status.RETRY, detail="refused together with others; to be sent apart")
BYSTANDER = Outcome(Status.RETRY, detail="refused because of other messages in the request")


@dataclass(frozen=True)
class HttpPayload:
    """One request, ready to go: `path` is appended to the transport's base URL."""

    path: str
    body: bytes
    content_type: str


def checked_base_url(url: str, setting: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{setting} must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def never_connected(exc: requests.exceptions.RequestException) -> bool:
    """True when no connection was made, so the request cannot have reached the provider
    (refused, timed out while connecting, a name that does not resolve): an outage, which
    the runner waits out without using up the messages' attempts. A connection that broke
    later may have carried the request, so it is not one."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    reason = exc.args[0] if exc.args else None
    # requests wraps urllib3's MaxRetryError, whose reason is what went wrong.
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def excerpt(response: requests.Response, limit: int = 300) -> str:
    text = response.text.strip().replace("\r", " ").replace("\n", " ")
    return text[:limit] + ("…" if len(text) > limit else "")


def throttled(response: requests.Response, count: int, provider: str) -> list[Outcome] | None:
    """429 and 5xx mean "later" for every message in the request; None for anything else."""
    if response.status_code == 429 or response.status_code >= 500:
        outcome = Outcome(
            Status.RETRY,
            detail=f"{provider} answered {response.status_code}: {excerpt(response)}",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
        return [outcome] * count
    return None


def refuse_credentials(response: requests.Response, provider: str, setting: str) -> None:
    if response.status_code in (401, 403):
        raise TransportError(
            f"{provider} refused the credentials ({response.status_code}: {excerpt(response)}); "
            f"check {setting}",
            permanent=True,
        )


def too_large(response: requests.Response, count: int, provider: str) -> list[Outcome]:
    if count > 1:
        return [SPLIT] * count
    return [Outcome(Status.REJECTED, detail=f"{provider}: message too large ({excerpt(response)})")]


def unexpected(response: requests.Response, provider: str) -> TransportError:
    return TransportError(
        f"{provider} answered {response.status_code} unexpectedly: {excerpt(response)}",
        permanent=True,
    )


def group_batches(
    messages: Sequence[OutgoingMessage],
    max_batch: int,
    key: Callable[[OutgoingMessage], Hashable] = lambda message: None,
) -> list[list[int]]:
    """Indexes of `messages` in requests of at most `max_batch`, each address once per
    request (the APIs refuse or merge duplicates) and one `key` per request."""
    batches: list[list[int]] = []
    open_batches: dict[Hashable, list[tuple[list[int], set[str]]]] = {}
    for index, message in enumerate(messages):
        address = message.recipient.casefold()
        candidates = open_batches.setdefault(key(message), [])
        for indexes, addresses in candidates:
            if len(indexes) < max_batch and address not in addresses:
                indexes.append(index)
                addresses.add(address)
                break
        else:
            indexes = [index]
            candidates.append((indexes, {address}))
            batches.append(indexes)
    return batches


class HttpBatchTransport(Transport):
    # The setting holding the credential, named in errors.
    credential_setting: str

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        # One pooled keep-alive connection per host is all a sequential sender needs; a few
        # spare ones let callers share the transport between threads.
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=8, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        if headers:
            self.session.headers.update(headers)
        if auth:
            self.session.auth = auth

    @abstractmethod
    def build_payload(
        self, content: Content, messages: Sequence[OutgoingMessage]
    ) -> HttpPayload: ...

    @abstractmethod
    def parse_status(
        self, response: requests.Response, messages: Sequence[OutgoingMessage]
    ) -> list[Outcome]: ...

    def batch_key(self, message: OutgoingMessage) -> Hashable:
        """Messages with different keys never share a request."""
        return None

    def request_limit(self, content: Content) -> int:
        """The most messages one request carries; at most max_batch."""
        return self.max_batch

    def post(self, payload: HttpPayload) -> requests.Response:
        return self.session.post(
            self.base_url + payload.path,
            data=payload.body,
            headers={"Content-Type": payload.content_type},
            timeout=(CONNECT_TIMEOUT, self.timeout),
        )

    def deliver(
        self, content: Content, messages: Sequence[OutgoingMessage], hand_over: HandOver
    ) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(messages)
        anything_sent = False
        limit = max(1, min(self.max_batch, self.request_limit(content)))
        for indexes in group_batches(messages, limit, self.batch_key):
            group = [messages[index] for index in indexes]
            results = (
                self._send_after_others(content, group, hand_over)
                if anything_sent
                else self._send(content, group, hand_over)
            )
            for index, outcome in zip(indexes, results, strict=True):
                outcomes[index] = outcome
            anything_sent = anything_sent or any(o.status is Status.SENT for o in results)
        assert all(outcome is not None for outcome in outcomes)
        return [outcome for outcome in outcomes if outcome is not None]

    def close(self) -> None:
        self.session.close()

    def _send(
        self, content: Content, messages: Sequence[OutgoingMessage], hand_over: HandOver
    ) -> list[Outcome]:
        """One request and whatever splitting or resending its answer calls for.

        Raises TransportError only while nothing in `messages` has been accepted.
        """
        payload = self.build_payload(content, messages)
        hand_over.before(messages)
        try:
            response = self.post(payload)
        except requests.exceptions.ReadTimeout as exc:
            # The request went out; the provider may well have taken it. Sending again
            # would risk a second copy to every recipient of the batch.
            detail = f"{self.name}: no answer within {self.timeout:g}s; it may have been accepted"
            return [Outcome(Status.UNCONFIRMED, detail=f"{detail} ({exc})")] * len(messages)
        except requests.exceptions.RequestException as exc:
            unreachable = never_connected(exc)
            if unreachable:
                # Nothing left, so nothing may count as sent should the sender die now.
                hand_over.take_back(*(message.key for message in messages))
            raise TransportError(
                f"{self.name}: cannot reach {self.base_url}: {exc}", unreachable=unreachable
            ) from exc
        outcomes = self.parse_status(response, messages)
        if len(outcomes) != len(messages):
            raise TransportError(
                f"{self.name}: {len(outcomes)} answers for {len(messages)} messages",
                permanent=True,
            )
        hand_over.answered(messages, outcomes)
        if len(messages) > 1 and any(outcome is SPLIT for outcome in outcomes):
            half = len(messages) // 2
            first = self._send(content, messages[:half], hand_over)
            if any(outcome.status is Status.SENT for outcome in first):
                return first + self._send_after_others(content, messages[half:], hand_over)
            return first + self._send(content, messages[half:], hand_over)
        bystanders = [index for index, outcome in enumerate(outcomes) if outcome is BYSTANDER]
        if bystanders and len(bystanders) < len(messages):
            again = self._send(content, [messages[index] for index in bystanders], hand_over)
            for index, outcome in zip(bystanders, again, strict=True):
                outcomes[index] = outcome
        return outcomes

    def _send_after_others(
        self, content: Content, messages: Sequence[OutgoingMessage], hand_over: HandOver
    ) -> list[Outcome]:
        """`_send` once part of the batch is accepted: a failure of the whole request now
        concerns these messages alone, so it becomes their RETRY instead of an exception."""
        try:
            return self._send(content, messages, hand_over)
        except TransportError as exc:
            return [Outcome(Status.RETRY, detail=str(exc), retry_after=exc.retry_after)] * len(
                messages
            )
