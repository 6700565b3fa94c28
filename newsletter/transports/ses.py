"""Amazon SES v2 through boto3: one `SendEmail` call per message, with raw content.

Raw content (`Content={"Raw": {"Data": data}}`) sends our own RFC 5322 bytes, so the
List-Unsubscribe headers and our DKIM signature arrive as built. `FromEmailAddress` is the
envelope sender (it must be a verified identity) and `Destination` the one recipient.
SES has no batch call for raw messages, so a batch runs `NEWSLETTER_SES_CONCURRENCY`
calls at a time over boto3's pooled connections; the first message goes alone, so a wrong
key or region stops the batch before anything else is tried. boto3's own retries are off:
the campaign runner owns backoff and the rate limit.

Error codes (SES v2 SendEmail reference, AWS common errors):
- TooManyRequestsException, LimitExceededException (quota), Throttling, ServiceUnavailable,
  InternalFailure, any 5xx → RETRY;
- MessageRejected, MailFromDomainNotVerifiedException, BadRequestException (e.g. an
  invalid address) → REJECTED with SES's message;
- AccessDenied, InvalidClientTokenId, SignatureDoesNotMatch, expired or missing
  credentials, AccountSuspendedException, SendingPausedException, NotFoundException, and
  any 401/403 → permanent TransportError (the account or setup, not the recipient).
Region and endpoint come from `SesConfig`, credentials from boto3's usual chain
(environment, shared config, instance role).

Each message is the three steps the HTTP APIs take (newsletter.transports.http_api):
`build_payload` (pure) → `post` (the SendEmail call, the only I/O) → `parse_status` (pure).
`post` hands back SES's error answers as it does its success, so `parse_status` reads both;
a call that got no answer at all (timeout, no connection, no credentials) is `no_answer`.
Each call first takes one message from the limiter and tells the journal its key
(`point_of_no_return`): a call in flight when the sender is killed counts as sent. A call
that did not end in SENT takes the key back (`not_accepted`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

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

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sesv2.type_defs import SendEmailRequestTypeDef

MAX_BATCH = 200
RETRY_CODES = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "Throttling",
        "ThrottlingException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServiceErrorException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
REJECT_CODES = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "MailFromDomainNotVerified",
        "BadRequestException",
        "InvalidParameterValue",
    }
)
ACCOUNT_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "AccountSuspendedException",
        "SendingPausedException",
        "NotFoundException",
    }
)


def classify_error(code: str, message: str, http_status: int = 0) -> Outcome | TransportError:
    """What an SES error code means for the message, or for the whole batch."""
    detail = f"ses {code}: {' '.join(message.split())}".strip()
    # AWS answers 401/403 only about credentials or permissions, whatever the code says.
    if code in ACCOUNT_CODES or http_status in (401, 403):
        return TransportError(detail, permanent=True)
    if code in REJECT_CODES:
        return Outcome(Status.REJECTED, detail=detail)
    if code in RETRY_CODES or http_status >= 500 or http_status == 429:
        return Outcome(Status.RETRY, detail=detail)
    # Unknown: let the runner retry it a bounded number of times rather than lose it.
    return Outcome(Status.RETRY, detail=detail)


def no_answer(exc: BotoCoreError) -> Outcome | TransportError:
    """What a call that got no answer from SES means."""
    # First: a read timeout is also an EndpointConnectionError.
    if isinstance(exc, ReadTimeoutError):
        # Sent again, it could arrive twice (see Status.UNCONFIRMED).
        return Outcome(
            Status.UNCONFIRMED, detail=f"ses: no answer; it may have been accepted ({exc})"
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        # No connection was made: an outage, which the runner waits out.
        return TransportError(f"ses: cannot reach the endpoint: {exc}", unreachable=True)
    if isinstance(exc, NoCredentialsError):
        return TransportError(f"ses: {exc} (set AWS credentials)", permanent=True)
    return TransportError(f"ses: {exc}")


@dataclass(frozen=True)
class SesConfig:
    # None: boto3's own chain decides (AWS_REGION, AWS_DEFAULT_REGION, shared config).
    region: str | None = None
    endpoint_url: str | None = None
    concurrency: int = 8
    read_timeout: float = 60.0


class SesTransport(Transport):
    name = "ses"
    wants_raw = True
    max_batch = MAX_BATCH

    def __init__(self, client: SESV2Client, *, concurrency: int = 8) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ses")

    @classmethod
    def connect(cls, config: SesConfig) -> SesTransport:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(region_name=config.region)
        if not session.region_name:
            raise ConfigError("set NEWSLETTER_SES_REGION (or AWS_REGION) for the ses transport")
        client_config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=config.concurrency,
            connect_timeout=10,
            read_timeout=config.read_timeout,
        )
        client = session.client("sesv2", endpoint_url=config.endpoint_url, config=client_config)
        return cls(client, concurrency=config.concurrency)

    @staticmethod
    def build_payload(content: Content, message: OutgoingMessage) -> SendEmailRequestTypeDef:
        """One SendEmail request: our own bytes, from the envelope sender to the one
        recipient (SES takes no batch of raw messages)."""
        return {
            "FromEmailAddress": message.sender,
            "Destination": {"ToAddresses": [message.recipient]},
            "Content": {"Raw": {"Data": message.data}},
        }

    def post(self, payload: SendEmailRequestTypeDef) -> Mapping[str, Any]:
        """SES's answer, an error one included (it always carries `Error`); BotoCoreError
        when there was none."""
        try:
            return self._client.send_email(**payload)
        except ClientError as exc:
            return {**exc.response, "Error": exc.response.get("Error", {})}

    @staticmethod
    def parse_status(answer: Mapping[str, Any]) -> Outcome | TransportError:
        """The outcome of one message, or the error that concerns the whole batch."""
        error = answer.get("Error")
        if error is None:
            return Outcome(Status.SENT, provider_id=answer["MessageId"], detail="accepted")
        status = int(answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        return classify_error(str(error.get("Code", "")), str(error.get("Message", "")), status)

    def deliver(
        self, content: Content, messages: Sequence[OutgoingMessage], hand_over: HandOver
    ) -> list[Outcome]:
        first = self._send(content, messages[0], hand_over)
        if isinstance(first, TransportError):
            raise first
        stopped: list[str] = []
        stop = threading.Event()

        def send(message: OutgoingMessage) -> Outcome:
            if stop.is_set():
                return Outcome(Status.RETRY, detail=f"not tried: {stopped[0]}")
            result = self._send(content, message, hand_over)
            if isinstance(result, TransportError):
                stopped.append(str(result))
                stop.set()
                return Outcome(
                    Status.RETRY,
                    detail=str(result),
                    retry_after=result.retry_after,
                    unreachable=result.unreachable,
                )
            return result

        return [first, *self._pool.map(send, messages[1:])]

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def _send(
        self, content: Content, message: OutgoingMessage, hand_over: HandOver
    ) -> Outcome | TransportError:
        payload = self.build_payload(content, message)
        try:
            hand_over.before([message])
        except TransportError as exc:
            return exc
        try:
            result = self.parse_status(self.post(payload))
        except BotoCoreError as exc:
            result = no_answer(exc)
        if not (isinstance(result, Outcome) and result.status is Status.SENT):
            hand_over.take_back(message.key)
        return result
