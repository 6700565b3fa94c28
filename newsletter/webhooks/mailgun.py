"""Mailgun webhooks (the JSON kind), signed with the HTTP webhook signing key.

The body carries `signature: {timestamp, token, signature}`, where `signature` is the hex
HMAC-SHA256 of the timestamp followed by the token, keyed with the signing key (for a
subaccount's events, `parent-signature` is the same with the parent account's key), and
`event-data`. The token is random per request, so it identifies a replay; the timestamp
bounds how long one has to be remembered. What counts here:
- `failed` with `severity` `permanent`: a hard bounce, except Mailgun's own refusals of
  an address it keeps for a complaint (a complaint) or an unsubscribe (ignored);
- `failed` with `severity` `temporary`: a soft bounce;
- `complained`: a complaint.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from newsletter.webhooks.reports import (
    Malformed,
    Report,
    ReportKind,
    Unauthenticated,
    address,
    check_fresh,
    json_body,
    text,
    unix_time,
)

PROVIDER = "mailgun"


def verify_and_read(
    signing_key: bytes, body: bytes, *, now: datetime, max_age: timedelta
) -> list[Report]:
    """The reports in a request Mailgun signed recently; Unauthenticated otherwise."""
    payload = json_body(body)
    if not isinstance(payload, dict):
        raise Malformed("expected a JSON object")
    signature = payload.get("signature")
    if not isinstance(signature, dict):
        raise Unauthenticated("the signature is missing")
    timestamp, token, digest = (signature.get(k) for k in ("timestamp", "token", "signature"))
    if not all(isinstance(v, str | int) and str(v) for v in (timestamp, token, digest)):
        raise Unauthenticated("the signature is incomplete")
    expected = hmac.new(signing_key, f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    # Events of a subaccount carry the parent account's signature too: either key works.
    given = [str(digest), str(signature.get("parent-signature", ""))]
    if not any(hmac.compare_digest(expected, value.lower()) for value in given):
        raise Unauthenticated("the signature does not match")
    check_fresh(unix_time(timestamp), now, max_age)
    data = payload.get("event-data")
    if not isinstance(data, dict):
        raise Malformed("event-data is missing")
    report = _report(str(token), data)
    return [report] if report is not None else []


def _report(token: str, data: dict[str, Any]) -> Report | None:
    kind = _kind(data)
    email = address(data.get("recipient"))
    if kind is None or email is None:
        return None
    status = data.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    detail = " ".join(
        part
        for part in (
            text(data.get("event")),
            text(data.get("severity")),
            text(data.get("reason")),
            text(status.get("code")),
            text(status.get("message") or status.get("description")),
        )
        if part
    )
    # The token, not event-data.id: Mailgun only promises that id to be unique for a day.
    return Report(PROVIDER, token, kind, email, detail)


def _kind(data: dict[str, Any]) -> ReportKind | None:
    event = data.get("event")
    if event == "complained":
        return ReportKind.COMPLAINT
    if event != "failed":
        return None
    severity = data.get("severity")
    if severity == "temporary":
        return ReportKind.SOFT_BOUNCE
    if severity != "permanent":
        return None
    reason = data.get("reason")
    if reason == "suppress-complaint":
        return ReportKind.COMPLAINT
    if reason == "suppress-unsubscribe":
        return None
    return ReportKind.HARD_BOUNCE
