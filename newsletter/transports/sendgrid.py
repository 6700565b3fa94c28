"""SendGrid v3 Mail Send: one request per batch, one personalization per recipient.

`POST /v3/mail/send` with `Authorization: Bearer KEY`. The issue goes once per request;
each personalization carries the recipient's `substitutions` (SendGrid replaces every key
string in the subject and content), `headers` (List-Unsubscribe, Message-ID, ...) and
`custom_args` (the message key, echoed in event webhooks).

SendGrid substitutes one value per key everywhere, but the HTML needs escaped values and
the text raw ones; so the HTML part's placeholders are renamed to keys of their own
(`__NL_HTML_NAME__`) whose values are HTML-escaped.

Inline images (NEWSLETTER_IMAGES=inline) go once per request as `attachments` with
`disposition: "inline"` and the `content_id` the HTML's `cid:` URLs name, base64-encoded.

Answers (documented: Mail Send "Errors" and "Limitations"):
- 202: queued, for everybody; the `X-Message-Id` header is the id for the whole request
  (events carry it as a prefix of `sg_message_id`).
- 200: only in sandbox mode: valid but not delivered, so it is refused as a setup error.
- 400 `{"errors": [{"message", "field", "help"}]}`: nothing was sent. An error whose `field`
  starts `personalizations.N` concerns that recipient alone (e.g. "Does not contain a valid
  address." for `personalizations.0.to.0.email`): those are REJECTED and the others sent
  again at once without them. Any other field (from, content, a null field) means the
  request itself is wrong for everybody: the batch stops with a permanent TransportError,
  so the runner pauses the campaign instead of rejecting the whole list.
- 401/403: the key is wrong or lacks the Mail Send scope → permanent TransportError.
- 413: payload too large → the batch is split.
- 429/5xx: everybody RETRY, with Retry-After when given.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Sequence
from typing import Any

import requests

from newsletter.issue.model import Asset, placeholder
from newsletter.mail.placeholders import Substituter, html_values
from newsletter.transports.base import Content, Outcome, OutgoingMessage, Status, TransportError
from newsletter.transports.fields import (
    field_values,
    personal_headers,
    shared_headers,
    split_address,
)
from newsletter.transports.http_api import (
    BYSTANDER,
    HttpBatchTransport,
    HttpPayload,
    excerpt,
    refuse_credentials,
    throttled,
    too_large,
    unexpected,
)

PATH = "/v3/mail/send"
MAX_PERSONALIZATIONS = 1000
# Echoed by SendGrid in every event webhook for this recipient.
KEY_ARG = "newsletter_key"
_PERSONALIZATION_FIELD = re.compile(r"^personalizations(?:\.|\[)(\d+)")


def html_key(name: str) -> str:
    return f"__NL_HTML_{name.upper()}__"


def _address_object(text: str) -> dict[str, str]:
    name, address = split_address(text)
    return {"email": address, "name": name} if name else {"email": address}


def _to_object(message: OutgoingMessage) -> dict[str, str]:
    name = message.fields.get("name", "").strip()
    # SendGrid documents that to.name may contain neither ";" nor ","; without it the
    # message still reaches the address.
    if name and not (set(name) & {";", ",", '"'}):
        return {"email": message.recipient, "name": name}
    return {"email": message.recipient}


@functools.lru_cache(maxsize=4)
def inline_attachments(images: tuple[Asset, ...]) -> tuple[dict[str, str], ...]:
    """The issue's images as SendGrid's inline attachments, the same for every request of
    a campaign: encoded once (Content.images is one tuple for the whole campaign)."""
    return tuple(
        {
            "content": base64.b64encode(image.data).decode("ascii"),
            "type": image.content_type,
            "filename": image.filename,
            "disposition": "inline",
            "content_id": image.cid,
        }
        for image in images
    )


class SendGridTransport(HttpBatchTransport):
    name = "sendgrid"
    wants_raw = False
    max_batch = MAX_PERSONALIZATIONS
    credential_setting = "NEWSLETTER_SENDGRID_API_KEY"

    def __init__(self, api_key: str, *, base_url: str, timeout: float = 60.0) -> None:
        super().__init__(base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)

    def build_payload(self, content: Content, messages: Sequence[OutgoingMessage]) -> HttpPayload:
        html = Substituter(content.html)
        plain_names = set(Substituter(content.text).names) | set(Substituter(content.subject).names)
        html_names = set(html.names)
        personalizations: list[dict[str, Any]] = []
        for message in messages:
            values = field_values(message, plain_names | html_names)
            escaped = html_values({name: values[name] for name in html_names})
            personalization: dict[str, Any] = {
                "to": [_to_object(message)],
                "custom_args": {KEY_ARG: str(message.key)},
            }
            substitutions = {placeholder(name): values[name] for name in plain_names}
            substitutions.update({html_key(name): escaped[name] for name in html_names})
            if substitutions:
                personalization["substitutions"] = substitutions
            headers = personal_headers(message)
            if headers:
                personalization["headers"] = headers
            personalizations.append(personalization)
        payload: dict[str, Any] = {
            "personalizations": personalizations,
            "from": _address_object(content.from_address),
            "subject": content.subject,
            # SendGrid requires text/plain before text/html, and no empty value.
            "content": [
                part
                for part in (
                    {"type": "text/plain", "value": content.text},
                    {
                        "type": "text/html",
                        "value": html.fill({name: html_key(name) for name in html_names}),
                    },
                )
                if part["value"]
            ],
        }
        if content.reply_to:
            payload["reply_to"] = _address_object(content.reply_to)
        common = shared_headers(content)
        if common:
            payload["headers"] = common
        if content.images:
            payload["attachments"] = inline_attachments(content.images)
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return HttpPayload(PATH, body, "application/json")

    def parse_status(
        self, response: requests.Response, messages: Sequence[OutgoingMessage]
    ) -> list[Outcome]:
        count = len(messages)
        status = response.status_code
        if status == 202:
            message_id = response.headers.get("X-Message-Id")
            return [Outcome(Status.SENT, provider_id=message_id, detail="202 queued")] * count
        if status == 200:
            raise TransportError(
                "sendgrid answered 200: sandbox mode is on, so nothing is delivered",
                permanent=True,
            )
        refuse_credentials(response, "sendgrid", self.credential_setting)
        later = throttled(response, count, "sendgrid")
        if later is not None:
            return later
        if status == 413:
            return too_large(response, count, "sendgrid")
        if status == 400:
            return self._bad_request(response, count)
        raise unexpected(response, "sendgrid")

    def _bad_request(self, response: requests.Response, count: int) -> list[Outcome]:
        try:
            errors = response.json().get("errors") or []
        except (ValueError, AttributeError):
            errors = []
        per_recipient: dict[int, list[str]] = {}
        general: list[str] = []
        for error in errors if isinstance(errors, list) else []:
            if not isinstance(error, dict):
                continue
            field = str(error.get("field") or "")
            text = str(error.get("message") or "bad request")
            match = _PERSONALIZATION_FIELD.match(field)
            if match and int(match.group(1)) < count:
                per_recipient.setdefault(int(match.group(1)), []).append(f"{field}: {text}")
            else:
                general.append(f"{field}: {text}" if field else text)
        if general or not per_recipient:
            raise TransportError(
                f"sendgrid refused the request (400): {'; '.join(general) or excerpt(response)}",
                permanent=True,
            )
        return [
            Outcome(Status.REJECTED, detail="sendgrid 400: " + "; ".join(per_recipient[index]))
            if index in per_recipient
            else BYSTANDER
            for index in range(count)
        ]
