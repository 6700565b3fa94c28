from __future__ import annotations

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
from tests.webhooks.signing import (
    mailgun_event,
    mailgun_failure,
    mailgun_payload,
    now,
)

URL = "/webhooks/mailgun"


def post(client: TestClient, payload: dict[str, Any]) -> Response:
    return client.post(URL, json=payload)


def test_a_permanent_failure_suppresses_with_an_audit_event(client: TestClient) -> None:
    new_member("ana@example.org", new_list())
    payload = mailgun_payload(mailgun_failure("ana@example.org", "permanent"))
    response = post(client, payload)
    assert response.status_code == 200, response.text
    assert suppressed("ana@example.org") == "bounced"
    kind, source, detail = latest_event("ana@example.org")
    assert (kind, source) == ("bounced", "webhook:mailgun")
    assert detail.startswith(f"mailgun event {payload['signature']['token']}: hard bounce")


def test_a_complaint_suppresses(client: TestClient) -> None:
    new_member("ana@example.org", new_list())
    response = post(client, mailgun_payload(mailgun_event("complained", "ana@example.org")))
    assert response.status_code == 200, response.text
    assert suppressed("ana@example.org") == "complained"


def test_a_temporary_failure_is_counted_not_suppressed(client: TestClient) -> None:
    new_member("ana@example.org", new_list())
    response = post(client, mailgun_payload(mailgun_failure("ana@example.org", "temporary")))
    assert response.status_code == 200, response.text
    assert suppressed("ana@example.org") is None
    assert soft_bounces("ana@example.org") == 1
    assert "soft bounces: 1" in shown("ana@example.org").splitlines()


def test_a_replayed_request_has_no_second_effect(client: TestClient) -> None:
    new_member("ana@example.org", new_list())
    payload = mailgun_payload(mailgun_failure("ana@example.org", "temporary"))
    assert post(client, payload).status_code == 200
    before = snapshot()
    again = post(client, payload)
    assert again.status_code == 200
    assert again.text.endswith("replayed 1\n")
    assert snapshot() == before
    assert soft_bounces("ana@example.org") == 1


def test_a_stale_signature_is_refused(client: TestClient) -> None:
    new_member("ana@example.org", new_list())
    before = snapshot()
    payload = mailgun_payload(
        mailgun_failure("ana@example.org", "permanent"), at=now() - timedelta(minutes=6)
    )
    response = post(client, payload)
    assert response.status_code == 403
    assert snapshot() == before


@pytest.mark.parametrize("tamper", ["other key", "changed recipient", "no signature"])
def test_wrongly_signed_requests_are_refused(
    sqlite_db: str, make_client: ClientFactory, tamper: str
) -> None:
    client = make_client()
    new_member("ana@example.org", new_list())
    payload = mailgun_payload(
        mailgun_failure("bo@example.org", "permanent"),
        key="key-other" if tamper == "other key" else "key-3ax6xnjp29jd6fds4gc373sgvjxteol0",
    )
    if tamper == "changed recipient":
        # The signature covers only timestamp and token: a captured signature with other
        # event data passes once, but its token is then spent (see the replay test).
        payload["signature"]["token"] = "x" + payload["signature"]["token"][1:]
    if tamper == "no signature":
        del payload["signature"]
    before = snapshot()
    response = post(client, payload)
    assert response.status_code == 403
    assert snapshot() == before


def test_off_until_a_signing_key_is_configured(sqlite_db: str, make_client: ClientFactory) -> None:
    client = make_client(mailgun_webhook_signing_key=None)
    assert client.post(URL, json={}).status_code == 404
