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
Region and endpoint come from settings, credentials from boto3's usual chain (environment,
shared config, instance role).

Each call first takes one message from the limiter and tells the journal its key
(`point_of_no_return`): a call in flight when the sender is killed counts as sent. A call
answered with an error takes the key back (`not_accepted`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Settings
from newsletter.transports.base import (
    Content,
    Journal,
    Limiter,
    Outcome,
    OutgoingMessage,
    Status,
    TransportError,
)

if TYPE_CHECKING:
    from mypy_boto3_sesv2 import SESV2Client

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


class SesTransport:
    name = "ses"
    max_batch = MAX_BATCH

    def __init__(self, client: SESV2Client, *, concurrency: int = 8) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ses")

    @classmethod
    def from_settings(cls, settings: Settings) -> SesTransport:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(region_name=settings.ses_region or None)
        if not session.region_name:
            raise ConfigError("set NEWSLETTER_SES_REGION (or AWS_REGION) for the ses transport")
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=settings.ses_concurrency,
            connect_timeout=10,
            read_timeout=settings.http_timeout,
        )
        client = session.client(
            "sesv2", endpoint_url=settings.ses_endpoint_url or None, config=config
        )
        return cls(client, concurrency=settings.ses_concurrency)

    def send_batch(
        self,
        content: Content,
        messages: Sequence[OutgoingMessage],
        journal: Journal | None = None,
        limiter: Limiter | None = None,
    ) -> list[Outcome]:
        if not messages:
            return []
        first = self._attempt(messages[0], journal, limiter)
        if isinstance(first, TransportError):
            raise first
        stopped: list[str] = []
        stop = threading.Event()

        def send(message: OutgoingMessage) -> Outcome:
            if stop.is_set():
                return Outcome(Status.RETRY, detail=f"not tried: {stopped[0]}")
            result = self._attempt(message, journal, limiter)
            if isinstance(result, TransportError):
                stopped.append(str(result))
                stop.set()
                return Outcome(Status.RETRY, detail=str(result), retry_after=result.retry_after)
            return result

        return [first, *self._pool.map(send, messages[1:])]

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def _attempt(
        self, message: OutgoingMessage, journal: Journal | None, limiter: Limiter | None
    ) -> Outcome | TransportError:
        if limiter is not None:
            limiter.acquire(1)
        if journal is not None:
            try:
                journal.point_of_no_return(message.key)
            except Exception as exc:
                return TransportError(f"ses: not sent, the hand-over could not be recorded: {exc}")
        result = self._call(message)
        if journal is not None and not (
            isinstance(result, Outcome) and result.status is Status.SENT
        ):
            journal.not_accepted(message.key)
        return result

    def _call(self, message: OutgoingMessage) -> Outcome | TransportError:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        try:
            answer = self._client.send_email(
                FromEmailAddress=message.sender,
                Destination={"ToAddresses": [message.recipient]},
                Content={"Raw": {"Data": message.data}},
            )
        except ClientError as exc:
            error: dict[str, Any] = dict(exc.response.get("Error", {}))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            return classify_error(str(error.get("Code", "")), str(error.get("Message", "")), status)
        except ReadTimeoutError as exc:
            # Sent again, it could arrive twice (see Status.UNCONFIRMED).
            return Outcome(
                Status.UNCONFIRMED, detail=f"ses: no answer; it may have been accepted ({exc})"
            )
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            return TransportError(f"ses: cannot reach the endpoint: {exc}")
        except NoCredentialsError as exc:
            return TransportError(f"ses: {exc} (set AWS credentials)", permanent=True)
        except BotoCoreError as exc:
            return TransportError(f"ses: {exc}")
        return Outcome(Status.SENT, provider_id=answer["MessageId"], detail="accepted")
