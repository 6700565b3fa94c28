"""What a verified webhook reports, and the checks every provider shares.

A `Report` is one address a provider says bounced or complained. Its `event_id` is the
provider's id for the event it came in (an SNS message, a SendGrid event, a Mailgun token,
a Postmark record): the store remembers those, so a replayed request changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from enum import StrEnum
from typing import Any

from newsletter.core.errors import NewsletterError

# Longer ids (none of the providers' documented ones are) are stored as their SHA-256.
MAX_EVENT_ID = 100


class ReportKind(StrEnum):
    HARD_BOUNCE = "hard bounce"
    SOFT_BOUNCE = "soft bounce"
    COMPLAINT = "complaint"


@dataclass(frozen=True)
class Report:
    provider: str
    event_id: str
    kind: ReportKind
    email: str
    # The provider's words: the reason, the receiving server's reply, the feedback type.
    detail: str = ""


class Rejected(NewsletterError):
    """The request is not one to act on; `status_code` is the answer."""

    status_code = 400


class Malformed(Rejected):
    status_code = 400


class Unauthenticated(Rejected):
    status_code = 403


class Stale(Unauthenticated):
    """Signed, but too long ago (or in the future): a replay, or a clock far off."""


def check_fresh(signed_at: datetime, now: datetime, max_age: timedelta) -> None:
    if abs(now - signed_at) > max_age:
        raise Stale(f"signed at {signed_at:%Y-%m-%d %H:%M:%S} UTC, outside the allowed window")


def unix_time(value: Any) -> datetime:
    """A Unix timestamp (number or decimal string) as an aware datetime, or Malformed."""
    try:
        seconds = float(value)
        return datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise Malformed(f"not a Unix timestamp: {str(value)[:40]!r}") from None


def iso_time(value: Any) -> datetime:
    """An ISO 8601 time with its offset (SNS writes `2024-01-31T04:37:04.321Z`)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise Malformed(f"not an ISO 8601 time: {str(value)[:40]!r}") from None
    if parsed.tzinfo is None:
        raise Malformed("timestamp without a time zone")
    return parsed


def json_body(body: bytes) -> Any:
    """The parsed body, or Malformed: for bytes that are not UTF-8 JSON, and for JSON
    nested deeper than the parser recurses (a megabyte of `[` costs nothing more)."""
    try:
        return loads(body)
    except ValueError:
        raise Malformed("the body is not JSON") from None


def loads(text: str | bytes) -> Any:
    """`json.loads`, with nesting too deep to parse raising ValueError like any other
    JSON it cannot read, instead of RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def address(value: Any) -> str | None:
    """The addr-spec in `value` (a bare address or `Name <address>`), None if there is none."""
    if not isinstance(value, str):
        return None
    found = parseaddr(value)[1]
    return found if "@" in found else None


def event_id(value: Any, fallback: Any) -> str:
    """The provider's event id, or a digest of the event itself when it has none (so a
    replay of the same event still has the same id)."""
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        text = str(value)
        if len(text) <= MAX_EVENT_ID:
            return text
        return hashlib.sha256(text.encode()).hexdigest()
    canonical = json.dumps(fallback, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def text(value: Any, limit: int = 500) -> str:
    """A provider's free-text field, as one bounded line."""
    if value is None:
        return ""
    return " ".join(str(value).split())[:limit]
