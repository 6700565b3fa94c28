"""Postmark batch endpoint: up to 500 complete messages per request.

`POST /email/batch` with `X-Postmark-Server-Token`, a JSON array of messages (From, To,
Subject, HtmlBody, TextBody, ReplyTo, Headers [{Name, Value}], MessageStream, Metadata).
Postmark does no substitution here, so each message is filled in on our side. The issue's
literal parts are JSON-encoded once per batch and each message is joined from them and the
recipient's encoded values: encoding 20 MB of near-identical HTML per request again and
again would cost more than everything else. Inline images (NEWSLETTER_IMAGES=inline) go in
each message's `Attachments` with `ContentID: "cid:…"`, encoded once per campaign.

Answers (Postmark docs, "API overview" and "Send batch emails"):
- 200 with an array answering each message in order: `ErrorCode` 0 → SENT with its
  `MessageID`; 406 (inactive recipient: bounced, complained or suppressed) and 300
  (invalid email request, e.g. an illegal address) → REJECTED; 429 and 100 (maintenance)
  → RETRY. Codes about the account or the request itself (10 bad token, 400/401 sender
  signature, 402/403/409 JSON, 405 not allowed to send, 410, 411, 412, 413) apply to the
  whole batch: when nothing in the batch got through they stop it with a permanent
  TransportError, as does one and the same failure for every message of the batch (a
  300 for an invalid From address), so a setup error pauses the campaign instead of
  rejecting the list. Unknown codes → RETRY.
- 401: bad token → permanent. 422 `{"ErrorCode", "Message"}` about the request → permanent
  (RETRY for 429/100). 413: too large → split. 429/500/503: everybody RETRY.
"""

from __future__ import annotations

import base64
import functools
import json
import json.encoder
from collections.abc import Callable, Sequence
from typing import Any

import requests

from newsletter.issue.model import Asset
from newsletter.mail.placeholders import Substituter, html_values
from newsletter.transports.base import Content, Outcome, OutgoingMessage, Status, TransportError
from newsletter.transports.fields import (
    field_values,
    personal_headers,
    recipient_display,
    shared_headers,
)
from newsletter.transports.http_api import (
    HttpBatchTransport,
    HttpPayload,
    excerpt,
    refuse_credentials,
    throttled,
    too_large,
    unexpected,
)

PATH = "/email/batch"
MAX_MESSAGES = 500
# Postmark takes up to 50 MB per batch request. Requests are kept near 16 MB instead: far
# from that limit whatever the issue's size, and faster, since a buffer beyond 32 MB is
# fresh memory from the system on every request (glibc's mmap threshold) and filling it
# costs more than sending it.
REQUEST_BYTES = 16 * 1024 * 1024
KEY_METADATA = "newsletter_key"
REJECTING_CODES = frozenset({300, 406})
TRANSIENT_CODES = frozenset({100, 429})
BATCH_CODES = frozenset({10, 400, 401, 402, 403, 405, 409, 410, 411, 412, 413})


# The C string encoder json.dumps(ensure_ascii=False) uses, without its per-call set-up.
_quote: Callable[[str], str] = json.encoder.encode_basestring
_encode_envelope = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _encoded(text: str) -> bytes:
    """`text` as the inside of a JSON string. JSON escapes character by character, so
    encoded pieces can be joined in any order and still equal the encoded whole."""
    return _quote(text)[1:-1].encode()


class _EncodedTemplate:
    """A body split at its placeholders, the literal parts already JSON-encoded."""

    __slots__ = ("literals", "names")

    def __init__(self, source: str) -> None:
        split = Substituter(source)
        self.literals = [_encoded(literal) for literal in split.literals]
        self.names = split.names

    def fill_into(self, parts: list[bytes], encoded_values: dict[str, bytes]) -> None:
        """Append the pieces to `parts`: the whole batch is joined once, at the end, since
        every intermediate join would copy the 50 KB body again."""
        literals = self.literals
        parts.append(literals[0])
        for index, name in enumerate(self.names, start=1):
            parts.append(encoded_values[name])
            parts.append(literals[index])


@functools.lru_cache(maxsize=4)
def encoded_attachments(images: tuple[Asset, ...]) -> bytes:
    """`,"Attachments":[...]` for the issue's inline images (nothing when there are none),
    base64 and JSON-encoded once per campaign (Content.images is one tuple for all of it):
    Postmark takes no attachment shared by a batch, so every message repeats it."""
    if not images:
        return b""
    attachments = [
        {
            "Name": image.filename,
            "Content": base64.b64encode(image.data).decode("ascii"),
            "ContentType": image.content_type,
            "ContentID": f"cid:{image.cid}",
        }
        for image in images
    ]
    return b',"Attachments":' + _encode_envelope(attachments).encode()


class PostmarkTransport(HttpBatchTransport):
    name = "postmark"
    wants_raw = False
    max_batch = MAX_MESSAGES
    credential_setting = "NEWSLETTER_POSTMARK_SERVER_TOKEN"

    def __init__(
        self, token: str, *, base_url: str, message_stream: str = "broadcast", timeout: float = 60.0
    ) -> None:
        super().__init__(base_url, headers={"X-Postmark-Server-Token": token}, timeout=timeout)
        self.message_stream = message_stream

    def request_limit(self, content: Content) -> int:
        # JSON escaping grows HTML by a few percent; headers and envelope add ~1 KB. Every
        # message carries its own copy of the inline images.
        per_message = (
            int((len(content.html) + len(content.text)) * 1.1)
            + 2048
            + len(encoded_attachments(content.images))
        )
        return max(1, REQUEST_BYTES // per_message)

    def build_payload(self, content: Content, messages: Sequence[OutgoingMessage]) -> HttpPayload:
        html = _EncodedTemplate(content.html)
        text = _EncodedTemplate(content.text)
        subject = Substituter(content.subject)
        html_names = set(html.names)
        names = html_names | set(text.names) | set(subject.names)
        common = shared_headers(content)
        attachments = encoded_attachments(content.images)
        parts: list[bytes] = [b"["]
        for number, message in enumerate(messages):
            values = field_values(message, names)
            headers = {**common, **personal_headers(message)}
            envelope: dict[str, Any] = {
                "From": content.from_address,
                "To": recipient_display(message),
                "Subject": subject.fill(values),
                "MessageStream": self.message_stream,
                "Metadata": {KEY_METADATA: str(message.key)},
            }
            if content.reply_to:
                envelope["ReplyTo"] = content.reply_to
            if headers:
                envelope["Headers"] = [{"Name": n, "Value": v} for n, v in headers.items()]
            escaped = html_values({name: values[name] for name in html_names})
            fields = _encode_envelope(envelope)
            parts.append(b"," if number else b"")
            parts.append(fields[:-1].encode() + attachments + b',"HtmlBody":"')
            html.fill_into(parts, {name: _encoded(value) for name, value in escaped.items()})
            parts.append(b'","TextBody":"')
            text.fill_into(parts, {name: _encoded(values[name]) for name in text.names})
            parts.append(b'"}')
        parts.append(b"]")
        return HttpPayload(PATH, b"".join(parts), "application/json")

    def parse_status(
        self, response: requests.Response, messages: Sequence[OutgoingMessage]
    ) -> list[Outcome]:
        count = len(messages)
        status = response.status_code
        refuse_credentials(response, "postmark", self.credential_setting)
        if status == 200:
            return self._per_message(response, count)
        if status == 413:
            return too_large(response, count, "postmark")
        if status == 422:
            answer = _json(response)
            code = answer.get("ErrorCode") if isinstance(answer, dict) else None
            reason = answer.get("Message") if isinstance(answer, dict) else None
            detail = f"postmark 422, error {code}: {reason or excerpt(response)}"
            if code in TRANSIENT_CODES:
                return [Outcome(Status.RETRY, detail=detail)] * count
            raise TransportError(detail, permanent=True)
        later = throttled(response, count, "postmark")
        if later is not None:
            return later
        raise unexpected(response, "postmark")

    def _per_message(self, response: requests.Response, count: int) -> list[Outcome]:
        answers = _json(response)
        if not isinstance(answers, list) or len(answers) != count:
            raise TransportError(
                f"postmark answered 200 without one result per message: {excerpt(response)}",
                permanent=True,
            )
        outcomes: list[Outcome] = []
        failures: set[tuple[object, str]] = set()
        batch_wide: list[str] = []
        for answer in answers:
            answer = answer if isinstance(answer, dict) else {}
            code = answer.get("ErrorCode")
            reason = str(answer.get("Message") or "")
            if code == 0:
                outcomes.append(
                    Outcome(Status.SENT, provider_id=str(answer.get("MessageID")), detail=reason)
                )
                continue
            failures.add((code, reason))
            detail = f"postmark error {code}: {reason}"
            if code in BATCH_CODES:
                batch_wide.append(detail)
            status = Status.REJECTED if code in REJECTING_CODES else Status.RETRY
            outcomes.append(Outcome(status, detail=detail))
        if any(outcome.status is Status.SENT for outcome in outcomes):
            return outcomes
        if not batch_wide and count > 1 and len(failures) == 1:
            code, reason = next(iter(failures))
            if code not in TRANSIENT_CODES:
                batch_wide.append(f"postmark error {code}: {reason}")
        if batch_wide:
            raise TransportError(
                f"postmark refused the whole batch: {batch_wide[0]}", permanent=True
            )
        return outcomes


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
