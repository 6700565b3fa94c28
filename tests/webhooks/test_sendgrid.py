from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from newsletter.webhooks import sendgrid
from newsletter.webhooks.reports import Malformed, ReportKind, Stale, Unauthenticated, unix_time
from tests.webhooks.signing import SendGridSigner, now, sendgrid_event

MAX_AGE = timedelta(minutes=5)
SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"


@pytest.fixture(scope="module")
def signer() -> SendGridSigner:
    return SendGridSigner()


def verify(signer: SendGridSigner, body: bytes, headers: dict[str, str]) -> None:
    sendgrid.verify(
        sendgrid.load_public_key(signer.public_key),
        body,
        headers.get(SIGNATURE),
        headers.get(TIMESTAMP),
        now=now(),
        max_age=MAX_AGE,
    )


def test_sendgrids_published_example_verifies() -> None:
    # The key, signature, timestamp and payload of SendGrid's own helper library tests.
    key = sendgrid.load_public_key(
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo"
        "7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA=="
    )
    payload = b'{"category":"example_payload","event":"test_event","message_id":"message_id"}'
    signature = (
        "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWY"
        "NH2j/0="
    )
    sent_at = unix_time("1588788367")
    sendgrid.verify(key, payload, signature, "1588788367", now=sent_at, max_age=MAX_AGE)
    with pytest.raises(Unauthenticated):
        sendgrid.verify(key, payload + b" ", signature, "1588788367", now=sent_at, max_age=MAX_AGE)


def test_a_signed_body_verifies_and_any_change_fails(signer: SendGridSigner) -> None:
    body = json.dumps([sendgrid_event("bounce", "ana@example.org", type="bounce")]).encode()
    headers = signer.headers(body)
    verify(signer, body, headers)
    with pytest.raises(Unauthenticated, match="does not match"):
        verify(signer, body.replace(b"ana@", b"bob@"), headers)
    later = str(int(headers[TIMESTAMP]) + 1)
    with pytest.raises(Unauthenticated, match="does not match"):
        verify(signer, body, {**headers, TIMESTAMP: later})


def test_another_key_missing_headers_and_garbage_fail(signer: SendGridSigner) -> None:
    body = b"[]"
    with pytest.raises(Unauthenticated):
        verify(signer, body, SendGridSigner().headers(body))
    with pytest.raises(Unauthenticated, match="missing"):
        verify(signer, body, {})
    with pytest.raises(Unauthenticated):
        verify(signer, body, {**signer.headers(body), SIGNATURE: "@@@"})


def test_stale_and_future_timestamps_fail(signer: SendGridSigner) -> None:
    body = b"[]"
    for offset in (timedelta(minutes=-6), timedelta(minutes=6)):
        with pytest.raises(Stale):
            verify(signer, body, signer.headers(body, at=now() + offset))


def test_keys_load_as_base64_der_or_pem_and_nothing_else(signer: SendGridSigner) -> None:
    pem = signer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert sendgrid.load_public_key(pem.decode()).public_numbers() == (
        sendgrid.load_public_key(signer.public_key).public_numbers()
    )
    rsa_der = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for bad in (
        "not a key",
        base64.b64encode(b"not DER").decode(),
        base64.b64encode(rsa_der).decode(),
    ):
        with pytest.raises(ValueError, match="not a SendGrid verification key"):
            sendgrid.load_public_key(bad)


def kinds(*events: dict[str, object]) -> list[tuple[ReportKind, str]]:
    return [(r.kind, r.email) for r in sendgrid.reports(json.dumps(list(events)).encode())]


def test_event_kinds() -> None:
    assert kinds(
        sendgrid_event("bounce", "hard@example.org", type="bounce", status="5.1.1"),
        sendgrid_event("bounce", "blocked@example.org", type="blocked", status="5.7.1"),
        sendgrid_event("dropped", "dropped@example.org", reason="Bounced Address"),
        sendgrid_event("dropped", "invalid@example.org", reason="Invalid"),
        sendgrid_event("dropped", "spam@example.org", reason="Spam Reporting Address"),
        sendgrid_event("dropped", "left@example.org", reason="Unsubscribed Address"),
        sendgrid_event("spamreport", "complaint@example.org"),
        sendgrid_event("delivered", "fine@example.org"),
        sendgrid_event("deferred", "later@example.org"),
        sendgrid_event("open", "reader@example.org"),
    ) == [
        (ReportKind.HARD_BOUNCE, "hard@example.org"),
        (ReportKind.SOFT_BOUNCE, "blocked@example.org"),
        (ReportKind.HARD_BOUNCE, "dropped@example.org"),
        (ReportKind.HARD_BOUNCE, "invalid@example.org"),
        (ReportKind.COMPLAINT, "spam@example.org"),
        (ReportKind.COMPLAINT, "complaint@example.org"),
    ]


def test_each_event_keeps_its_own_id_and_words() -> None:
    first = sendgrid_event("bounce", "a@example.org", type="bounce", status="5.1.1", reason="gone")
    second = sendgrid_event("spamreport", "b@example.org")
    found = sendgrid.reports(json.dumps([first, second]).encode())
    assert [r.event_id for r in found] == [first["sg_event_id"], second["sg_event_id"]]
    assert found[0].detail == "bounce 5.1.1 gone"
    assert {r.provider for r in found} == {"sendgrid"}


def test_an_event_without_id_gets_one_from_its_content() -> None:
    event = sendgrid_event("spamreport", "b@example.org")
    del event["sg_event_id"]
    first = sendgrid.reports(json.dumps([event]).encode())[0].event_id
    assert first == sendgrid.reports(json.dumps([event]).encode())[0].event_id
    assert first.startswith("sha256:")


@pytest.mark.parametrize("body", [b"{}", b"[1]", b"nope", b'"x"'])
def test_bodies_that_are_not_event_arrays(body: bytes) -> None:
    with pytest.raises(Malformed):
        sendgrid.reports(body)
