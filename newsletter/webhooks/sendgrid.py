"""The SendGrid Event Webhook, signed (Mail Settings → Signed Event Webhook).

SendGrid signs the timestamp header followed by the raw body with ECDSA (P-256, SHA-256)
and sends the DER signature, base64-encoded, in `X-Twilio-Email-Event-Webhook-Signature`;
the verification key it shows is the base64 of the DER public key. The body is a JSON
array of events, each with its own `sg_event_id`. What counts here:
- `bounce`: `type` `bounce` is a hard bounce, `blocked` (the receiving server refused the
  message, not the address) a soft one;
- `dropped`: SendGrid did not even try, because the address bounced or was invalid before
  (hard) or reported spam (complaint); other reasons (an unsubscribe kept by SendGrid, a
  bad header) say nothing about the address and are ignored;
- `spamreport`: a complaint.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from newsletter.webhooks.reports import (
    Malformed,
    Report,
    ReportKind,
    Unauthenticated,
    address,
    check_fresh,
    event_id,
    json_body,
    text,
    unix_time,
)

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

_DROPPED = {
    "bounced address": ReportKind.HARD_BOUNCE,
    "invalid": ReportKind.HARD_BOUNCE,
    "spam reporting address": ReportKind.COMPLAINT,
}


def load_public_key(configured: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER), or as a PEM block."""
    configured = configured.strip()
    try:
        if configured.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(configured.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(configured, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"not a SendGrid verification key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not a SendGrid verification key: not an elliptic curve key")
    return key


def check_headers(signature: str | None, timestamp: str | None) -> tuple[str, str]:
    """Both signature headers, or Unauthenticated: what can be checked before the body
    is read."""
    if not signature or not timestamp:
        raise Unauthenticated("the signature headers are missing")
    return signature, timestamp


def verify(
    key: ec.EllipticCurvePublicKey,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    now: datetime,
    max_age: timedelta,
) -> None:
    """Unauthenticated unless SendGrid signed exactly this body, recently."""
    signature, timestamp = check_headers(signature, timestamp)
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, InvalidSignature, ValueError):
        raise Unauthenticated("the signature does not match") from None
    check_fresh(unix_time(timestamp), now, max_age)


def reports(body: bytes) -> list[Report]:
    events = json_body(body)
    if not isinstance(events, list):
        raise Malformed("expected a JSON array of events")
    found = []
    for item in events:
        if not isinstance(item, dict):
            raise Malformed("expected a JSON array of events")
        report = _report(item)
        if report is not None:
            found.append(report)
    return found


def _report(item: dict[str, Any]) -> Report | None:
    kind = _kind(item)
    email = address(item.get("email"))
    if kind is None or email is None:
        return None
    detail = " ".join(
        part
        for part in (text(item.get("event")), text(item.get("status")), text(item.get("reason")))
        if part
    )
    return Report(PROVIDER, event_id(item.get("sg_event_id"), item), kind, email, detail)


def _kind(item: dict[str, Any]) -> ReportKind | None:
    event = item.get("event")
    if event == "bounce":
        return ReportKind.SOFT_BOUNCE if item.get("type") == "blocked" else ReportKind.HARD_BOUNCE
    if event == "spamreport":
        return ReportKind.COMPLAINT
    if event == "dropped":
        return _DROPPED.get(str(item.get("reason", "")).strip().lower())
    return None
