from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest

from newsletter.webhooks import mailgun
from newsletter.webhooks.reports import Malformed, ReportKind, Stale, Unauthenticated
from tests.webhooks.signing import (
    MAILGUN_KEY,
    mailgun_event,
    mailgun_failure,
    mailgun_payload,
    now,
)

MAX_AGE = timedelta(minutes=5)


def read(payload: dict[str, Any], key: str = MAILGUN_KEY) -> list[tuple[ReportKind, str]]:
    found = mailgun.verify_and_read(
        key.encode(), json.dumps(payload).encode(), now=now(), max_age=MAX_AGE
    )
    return [(report.kind, report.email) for report in found]


def test_a_signed_payload_verifies() -> None:
    payload = mailgun_payload(mailgun_event("complained", "ana@example.org"))
    assert read(payload) == [(ReportKind.COMPLAINT, "ana@example.org")]


def test_the_signature_is_the_documented_hmac() -> None:
    # Mailgun: hex HMAC-SHA256 of timestamp and token concatenated, keyed with the signing
    # key. Values of the documentation's example; the digest computed independently.
    payload = {
        "signature": {
            "token": "e0b5477167110d68991efc6b9f89f0a11066af27834600e123",
            "timestamp": str(int(now().timestamp())),
        },
        "event-data": mailgun_event("complained", "ana@example.org"),
    }
    message = payload["signature"]["timestamp"] + payload["signature"]["token"]
    payload["signature"]["signature"] = hmac.new(
        b"key-example", message.encode(), hashlib.sha256
    ).hexdigest()
    assert read(payload, key="key-example") == [(ReportKind.COMPLAINT, "ana@example.org")]
    payload["signature"]["signature"] = payload["signature"]["signature"].upper()
    assert read(payload, key="key-example")  # hex digits in either case


def test_a_subaccounts_event_verifies_with_the_parent_key() -> None:
    payload = mailgun_payload(mailgun_event("complained", "ana@example.org"), key="key-sub")
    parent = mailgun_payload({}, key=MAILGUN_KEY)["signature"]
    # The parent's signature over the subaccount's timestamp and token.
    message = payload["signature"]["timestamp"] + payload["signature"]["token"]
    payload["signature"]["parent-signature"] = hmac.new(
        MAILGUN_KEY.encode(), message.encode(), hashlib.sha256
    ).hexdigest()
    assert parent["signature"] != payload["signature"]["parent-signature"]
    assert read(payload) == [(ReportKind.COMPLAINT, "ana@example.org")]
    payload["signature"]["parent-signature"] = parent["signature"]
    with pytest.raises(Unauthenticated):
        read(payload)


def test_a_wrong_key_or_a_changed_token_fails() -> None:
    payload = mailgun_payload(mailgun_failure("ana@example.org", "permanent"))
    with pytest.raises(Unauthenticated, match="does not match"):
        read(payload, key="key-another")
    payload["signature"]["token"] = payload["signature"]["token"][::-1]
    with pytest.raises(Unauthenticated, match="does not match"):
        read(payload)


def test_missing_signatures_fail() -> None:
    payload = mailgun_payload(mailgun_failure("ana@example.org", "permanent"))
    with pytest.raises(Unauthenticated):
        read({"event-data": payload["event-data"]})
    with pytest.raises(Unauthenticated):
        read({**payload, "signature": {"timestamp": "1", "token": "t"}})


def test_stale_and_future_timestamps_fail() -> None:
    for offset in (timedelta(minutes=-6), timedelta(minutes=6)):
        payload = mailgun_payload(
            mailgun_failure("ana@example.org", "permanent"), at=now() + offset
        )
        with pytest.raises(Stale):
            read(payload)


def test_event_kinds() -> None:
    def kind(event: dict[str, Any]) -> list[tuple[ReportKind, str]]:
        return read(mailgun_payload(event))

    assert kind(mailgun_failure("a@example.org", "permanent")) == [
        (ReportKind.HARD_BOUNCE, "a@example.org")
    ]
    assert kind(mailgun_failure("a@example.org", "temporary")) == [
        (ReportKind.SOFT_BOUNCE, "a@example.org")
    ]
    assert kind(mailgun_failure("a@example.org", "permanent", reason="suppress-complaint")) == [
        (ReportKind.COMPLAINT, "a@example.org")
    ]
    assert kind(mailgun_failure("a@example.org", "permanent", reason="suppress-unsubscribe")) == []
    assert kind(mailgun_event("complained", "a@example.org")) == [
        (ReportKind.COMPLAINT, "a@example.org")
    ]
    assert kind(mailgun_event("delivered", "a@example.org")) == []
    assert kind(mailgun_event("opened", "a@example.org")) == []


def test_the_token_identifies_the_event() -> None:
    payload = mailgun_payload(mailgun_failure("a@example.org", "permanent"))
    (report,) = mailgun.verify_and_read(
        MAILGUN_KEY.encode(), json.dumps(payload).encode(), now=now(), max_age=MAX_AGE
    )
    assert report.event_id == payload["signature"]["token"]
    assert report.provider == "mailgun"
    assert report.detail.startswith("failed permanent bounce 550 5.1.1")


def test_bodies_that_are_not_mailgun_events() -> None:
    with pytest.raises(Malformed):
        mailgun.verify_and_read(b"k", b"token=1&timestamp=2", now=now(), max_age=MAX_AGE)
    with pytest.raises(Malformed):
        mailgun.verify_and_read(b"k", b"[]", now=now(), max_age=MAX_AGE)
    payload = mailgun_payload({})
    del payload["event-data"]
    with pytest.raises(Malformed, match="event-data"):
        read(payload)
