"""Mailgun Messages API in batch-sending mode: one request per batch of up to 1,000.

`POST /v3/{domain}/messages`, HTTP basic auth `api:KEY`, multipart form fields: one `to` per
recipient plus `recipient-variables`, a JSON object keyed by address. With it, Mailgun
sends each `to` a message of its own and replaces `%recipient.NAME%` with that
recipient's value wherever it appears (Mailgun docs, "Batch Sending").

- Placeholders become recipient variables: `__NL_NAME__` → `%recipient.nl_name%` in the
  subject and text, `%recipient.nl_html_name%` (an HTML-escaped copy) in the HTML.
- Per-recipient headers (List-Unsubscribe, Message-ID) go as `h:Name` fields whose value
  is a recipient variable. Mailgun's docs show recipient variables in the subject and body
  only; that they are also replaced in `h:` header fields is what django-anymail's
  `merge_headers` for Mailgun relies on (and documents) and is exercised by its live
  integration tests. Requests are grouped so that every message in one has the same set of
  personal header names, so no recipient gets an empty header.
- `v:newsletter-key` carries the message key into Mailgun's event webhooks.
- Inline images (NEWSLETTER_IMAGES=inline) go as `inline` files, each named by its
  content id, which Mailgun makes the part's Content-ID (the `cid:` in the HTML).

Answers (Mailgun docs, "API Response Codes"):
- 200 `{"id": "<...>", "message": "Queued. Thank you."}`: queued for everybody; the id
  is shared by the whole request.
- 400 `{"message": ...}`: nothing sent. "'to' parameter is not a valid address" does not
  say which one, so the batch is halved and resent until the culprit alone is rejected.
  Any other 400 is wrong for everybody → permanent TransportError.
- 401/403: wrong key → permanent TransportError. 404: unknown domain → permanent.
- 413: too large → split. 429/5xx: everybody RETRY, honouring Retry-After.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import requests

from newsletter.core.errors import ConfigError
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
    SPLIT,
    HttpBatchTransport,
    HttpPayload,
    excerpt,
    refuse_credentials,
    throttled,
    too_large,
    unexpected,
)

MAX_RECIPIENTS = 1000
KEY_VARIABLE = "newsletter-key"
_INVALID_TO = re.compile(r"'?to'? parameter is not a valid address", re.IGNORECASE)
_HEADER_VARIABLE = re.compile(r"[^a-z0-9]+")


def text_variable(name: str) -> str:
    return f"nl_{name}"


def html_variable(name: str) -> str:
    return f"nl_html_{name}"


def header_variable(header: str) -> str:
    return "nl_h_" + _HEADER_VARIABLE.sub("_", header.lower()).strip("_")


def _recipient(variable: str) -> str:
    return f"%recipient.{variable}%"


class MailgunTransport(HttpBatchTransport):
    name = "mailgun"
    wants_raw = False
    max_batch = MAX_RECIPIENTS
    credential_setting = "NEWSLETTER_MAILGUN_API_KEY"

    def __init__(self, api_key: str, *, domain: str, base_url: str, timeout: float = 60.0):
        if not domain or "/" in domain:
            raise ConfigError(f"NEWSLETTER_MAILGUN_DOMAIN is not a domain: {domain!r}")
        super().__init__(base_url, auth=("api", api_key), timeout=timeout)
        self.domain = domain
        self.path = f"/v3/{quote(domain, safe='')}/messages"

    def batch_key(self, message: OutgoingMessage) -> Hashable:
        return frozenset(name.lower() for name in personal_headers(message))

    def build_payload(self, content: Content, messages: Sequence[OutgoingMessage]) -> HttpPayload:
        html = Substituter(content.html)
        text = Substituter(content.text)
        subject = Substituter(content.subject)
        plain_names = set(text.names) | set(subject.names)
        html_names = set(html.names)
        plain_tags = {name: _recipient(text_variable(name)) for name in plain_names}
        form: list[tuple[str, str]] = [
            ("from", content.from_address),
            ("subject", subject.fill(plain_tags)),
            ("text", text.fill(plain_tags)),
            ("html", html.fill({name: _recipient(html_variable(name)) for name in html_names})),
        ]
        form = [(name, value) for name, value in form if value or name == "subject"]
        if content.reply_to:
            form.append(("h:Reply-To", content.reply_to))
        form.extend((f"h:{name}", value) for name, value in shared_headers(content).items())
        header_names = list(personal_headers(messages[0])) if messages else []
        form.extend((f"h:{name}", _recipient(header_variable(name))) for name in header_names)
        form.append((f"v:{KEY_VARIABLE}", _recipient("nl_key")))
        variables: dict[str, dict[str, str]] = {}
        for message in messages:
            values = field_values(message, plain_names | html_names)
            escaped = html_values({name: values[name] for name in html_names})
            mine = {"nl_key": str(message.key)}
            mine.update({text_variable(name): values[name] for name in plain_names})
            mine.update({html_variable(name): escaped[name] for name in html_names})
            headers = {name.lower(): value for name, value in personal_headers(message).items()}
            mine.update({header_variable(name): headers[name.lower()] for name in header_names})
            variables[message.recipient] = mine
            form.append(("to", recipient_display(message)))
        form.append(("recipient-variables", json.dumps(variables, ensure_ascii=False)))
        body, content_type = multipart_form(form, inline_files(content.images))
        return HttpPayload(self.path, body, content_type)

    def parse_status(
        self, response: requests.Response, messages: Sequence[OutgoingMessage]
    ) -> list[Outcome]:
        count = len(messages)
        status = response.status_code
        if status == 200:
            answer = _json_object(response)
            queued = str(answer.get("message", ""))
            if not queued.startswith("Queued") or not answer.get("id"):
                # e.g. "Mailgun Magnificent API" from a wrong base URL.
                raise unexpected(response, "mailgun")
            return [Outcome(Status.SENT, provider_id=str(answer["id"]), detail=queued)] * count
        refuse_credentials(response, "mailgun", self.credential_setting)
        later = throttled(response, count, "mailgun")
        if later is not None:
            return later
        if status == 413:
            return too_large(response, count, "mailgun")
        reason = str(_json_object(response).get("message") or excerpt(response))
        if status == 404:
            raise TransportError(
                f"mailgun: {reason}; check NEWSLETTER_MAILGUN_DOMAIN ({self.domain}) "
                "and NEWSLETTER_MAILGUN_BASE_URL (EU domains use the EU endpoint)",
                permanent=True,
            )
        if status == 400:
            if _INVALID_TO.search(reason):
                if count > 1:
                    return [SPLIT] * count
                return [Outcome(Status.REJECTED, detail=f"mailgun 400: {reason}")]
            raise TransportError(f"mailgun refused the request (400): {reason}", permanent=True)
        raise unexpected(response, "mailgun")


@dataclass(frozen=True)
class FilePart:
    """A file field of a multipart form: `filename` is what Mailgun makes the Content-ID."""

    name: str
    filename: str
    content_type: str
    data: bytes


@functools.lru_cache(maxsize=4)
def inline_files(images: tuple[Asset, ...]) -> tuple[FilePart, ...]:
    """The issue's images as Mailgun `inline` files, once per campaign (Content.images is
    one tuple for all of it). Mailgun gives each the Content-ID of its filename, so the
    filename is the `cid:` the HTML names."""
    return tuple(FilePart("inline", image.cid, image.content_type, image.data) for image in images)


def multipart_form(
    fields: Sequence[tuple[str, str]], files: Sequence[FilePart] = ()
) -> tuple[bytes, str]:
    """`fields`, then `files`, as multipart/form-data, the encoding of Mailgun's own
    examples (curl -F).

    Unlike URL-encoding, it copies values as they are: percent-encoding a 50 KB issue and
    1,000 recipients' variables byte by byte in Python costs more than the request itself.
    """
    heads = [
        b'\r\nContent-Disposition: form-data; name="'
        + _quoted(file.name)
        + b'"; filename="'
        + _quoted(file.filename)
        + b'"\r\nContent-Type: '
        + file.content_type.encode("ascii")
        + b"\r\n\r\n"
        for file in files
    ]
    while True:
        boundary = "newsletter-" + secrets.token_hex(16)
        delimiter = f"--{boundary}".encode()
        parts: list[bytes] = []
        for name, value in fields:
            parts.append(delimiter)
            parts.append(
                b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n'
            )
            parts.append(value.encode())
            parts.append(b"\r\n")
        for head, file in zip(heads, files, strict=True):
            parts += (delimiter, head, file.data, b"\r\n")
        parts.append(delimiter + b"--\r\n")
        body = b"".join(parts)
        # A value (or an image) holding the boundary would cut the form; with 128 random
        # bits it does not happen, but checking costs one scan.
        if body.count(delimiter) == len(fields) + len(files) + 1:
            return body, f"multipart/form-data; boundary={boundary}"


def _quoted(text: str) -> bytes:
    # As browsers write a file name: a quote or line break could end the header.
    return (
        text.replace("\\", "%5C")
        .replace('"', "%22")
        .replace("\r", "%0D")
        .replace("\n", "%0A")
        .encode()
    )


def _json_object(response: requests.Response) -> dict[str, object]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
