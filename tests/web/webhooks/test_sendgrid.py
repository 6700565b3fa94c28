from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from tests.web.helpers import new_list, new_member, snapshot
from tests.web.webhooks.conftest import (
    ClientFactory,
    latest_event,
    shown,
    soft_bounces,
    suppressed,
)
from tests.webhooks.signing import SendGridSigner, now, sendgrid_event

URL = "/webhooks/sendgrid"


def post(
    client: TestClient, signer: SendGridSigner, *events: dict[str, Any], **options: Any
) -> tuple[Response, bytes, dict[str, str]]:
    body = json.dumps(list(events)).encode()
    headers = signer.headers(body, **options)
    return client.post(URL, content=body, headers=headers), body, headers


def test_a_batch_of_events_has_each_its_effect(
    client: TestClient, sendgrid_signer: SendGridSigner
) -> None:
    members = new_list()
    for name in ("hard", "blocked", "dropped", "spam", "fine"):
        new_member(f"{name}@example.org", members)
    hard = sendgrid_event("bounce", "hard@example.org", type="bounce", status="5.1.1")
    response, _, _ = post(
        client,
        sendgrid_signer,
        hard,
        sendgrid_event("bounce", "blocked@example.org", type="blocked", status="5.7.1"),
        sendgrid_event("dropped", "dropped@example.org", reason="Bounced Address"),
        sendgrid_event("spamreport", "spam@example.org"),
        sendgrid_event("delivered", "fine@example.org"),
        sendgrid_event("bounce", "stranger@example.org", type="bounce"),
    )
    assert response.status_code == 200, response.text
    assert response.text == "suppressed 3, soft bounces 1, unchanged 1, replayed 0\n"
    assert suppressed("hard@example.org") == "bounced"
    assert latest_event("hard@example.org") == (
        "bounced",
        "webhook:sendgrid",
        f"sendgrid event {hard['sg_event_id']}: hard bounce, bounce 5.1.1",
    )
    assert suppressed("dropped@example.org") == "bounced"
    assert suppressed("spam@example.org") == "complained"
    assert suppressed("blocked@example.org") is None
    assert soft_bounces("blocked@example.org") == 1
    assert "soft bounces: 1" in shown("blocked@example.org").splitlines()
    assert suppressed("fine@example.org") is None
    assert suppressed("stranger@example.org") is None


def test_a_replayed_request_has_no_second_effect(
    client: TestClient, sendgrid_signer: SendGridSigner
) -> None:
    new_member("ana@example.org", new_list())
    blocked = sendgrid_event("bounce", "ana@example.org", type="blocked")
    first, body, headers = post(client, sendgrid_signer, blocked)
    assert first.status_code == 200
    before = snapshot()
    again = client.post(URL, content=body, headers=headers)
    assert (again.status_code, again.text) == (
        200,
        "suppressed 0, soft bounces 0, unchanged 0, replayed 1\n",
    )
    # SendGrid retrying a delivery signs it again; the event id still recognises it.
    retried, _, _ = post(client, sendgrid_signer, blocked)
    assert retried.status_code == 200
    assert snapshot() == before
    assert soft_bounces("ana@example.org") == 1


def test_a_stale_signature_is_refused(client: TestClient, sendgrid_signer: SendGridSigner) -> None:
    new_member("ana@example.org", new_list())
    before = snapshot()
    response, _, _ = post(
        client,
        sendgrid_signer,
        sendgrid_event("spamreport", "ana@example.org"),
        at=now() - timedelta(minutes=6),
    )
    assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize("tamper", ["other key", "changed body", "no signature"])
def test_wrongly_signed_requests_are_refused(
    sqlite_db: str, make_client: ClientFactory, sendgrid_signer: SendGridSigner, tamper: str
) -> None:
    client = make_client()
    new_member("ana@example.org", new_list())
    signer = SendGridSigner() if tamper == "other key" else sendgrid_signer
    body = json.dumps([sendgrid_event("spamreport", "bo@example.org")]).encode()
    headers = signer.headers(body)
    if tamper == "changed body":
        body = body.replace(b"bo@", b"ana@")
    if tamper == "no signature":
        del headers["X-Twilio-Email-Event-Webhook-Signature"]
    before = snapshot()
    response = client.post(URL, content=body, headers=headers)
    assert response.status_code == 403
    assert snapshot() == before


def test_a_signed_body_that_is_not_events_is_refused(
    sqlite_db: str, make_client: ClientFactory, sendgrid_signer: SendGridSigner
) -> None:
    client = make_client()
    body = b'{"not": "a list"}'
    response = client.post(URL, content=body, headers=sendgrid_signer.headers(body))
    assert response.status_code == 400


def test_off_until_a_key_is_configured(sqlite_db: str, make_client: ClientFactory) -> None:
    client = make_client(sendgrid_webhook_public_key="")
    assert client.post(URL, content=b"[]").status_code == 404
