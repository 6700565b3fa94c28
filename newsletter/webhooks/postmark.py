"""Postmark's bounce and spam complaint webhooks, authenticated by HTTP basic auth.

Postmark signs nothing: its webhook URL carries a user name and password
(`https://user:password@host/webhooks/postmark`), which arrive as basic auth. Each request
is one record: `RecordType` `Bounce` (its `Type` says which kind) or `SpamComplaint`,
with the record's `ID`, which identifies a replay.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from newsletter.webhooks.reports import (
    Malformed,
    Rejected,
    Report,
    ReportKind,
    address,
    event_id,
    json_body,
    text,
)

PROVIDER = "postmark"
REALM = 'Basic realm="webhooks", charset="UTF-8"'

# Postmark's bounce types that say something about the address; the others (auto
# responders, challenge verifications, DMARC refusals of our domain ...) are ignored.
_TYPES = {
    "HardBounce": ReportKind.HARD_BOUNCE,
    "BadEmailAddress": ReportKind.HARD_BOUNCE,
    "SoftBounce": ReportKind.SOFT_BOUNCE,
    "Transient": ReportKind.SOFT_BOUNCE,
    "DnsError": ReportKind.SOFT_BOUNCE,
    "Blocked": ReportKind.SOFT_BOUNCE,
    "SpamComplaint": ReportKind.COMPLAINT,
}


class Unauthorised(Rejected):
    """No or wrong credentials: 401 with a basic auth challenge."""

    status_code = 401


def check_credentials(authorization: str | None, user: str, password: str) -> None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorised("basic auth is required")
    try:
        given_user, colon, given_password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorised("basic auth is malformed") from None
    # Both compared, always: the time taken tells nothing about which one was wrong.
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    if not (colon and user_ok and password_ok):
        raise Unauthorised("wrong user name or password")


def reports(body: bytes) -> list[Report]:
    record = json_body(body)
    if not isinstance(record, dict):
        raise Malformed("expected a JSON object")
    report = _report(record)
    return [report] if report is not None else []


def _report(record: dict[str, Any]) -> Report | None:
    record_type = record.get("RecordType")
    if record_type == "SpamComplaint":
        kind: ReportKind | None = ReportKind.COMPLAINT
    elif record_type == "Bounce":
        kind = _TYPES.get(str(record.get("Type")))
    else:
        kind = None
    email = address(record.get("Email"))
    if kind is None or email is None:
        return None
    detail = " ".join(
        part for part in (text(record.get("Type")), text(record.get("Description"), 200)) if part
    )
    details = text(record.get("Details"))
    if details:
        detail = f"{detail}: {details}"
    identifier = event_id(record.get("ID"), record)
    return Report(PROVIDER, f"{record_type}:{identifier}", kind, email, detail)
