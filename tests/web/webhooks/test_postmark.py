from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from tests.web.helpers import new_list, new_member, snapshot
from tests.web.webhooks.conftest import (
    POSTMARK_PASSWORD,
    POSTMARK_USER,
    ClientFactory,
    latest_event,
    shown,
    soft_bounces,
    suppressed,
)
from tests.webhooks.signing import basic_auth, postmark_bounce, postmark_complaint

URL = "/webhooks/postmark"
AUTH = basic_auth(POSTMARK_USER, POSTMARK_PASSWORD)


def post(client: TestClient, record: dict[str, Any], headers: dict[str, str] = AUTH) -> Response:
    return client.post(URL, json=record, headers=headers)


def test_a_hard_bounce_suppresses_with_an_audit_event(client: TestClient) -> None:
    new_member("ana@example.org", new_list())
    record = postmark_bounce("ana@example.org")
    response = post(client, record)
    assert response.status_code == 200, response.text
    assert suppressed("ana@example.org") == "bounced"
    kind, source, detail = latest_event("ana@example.org")
    assert (kind, source) == ("bounced", "webhook:postmark")
    assert detail.startswith(f"postmark event Bounce:{record['ID']}: hard bounce, HardBounce")


def test_a_spam_complaint_suppresses(client: TestClient) -> None:
    new_member("ana@example.org", new_list())
    assert post(client, postmark_complaint("ana@example.org")).status_code == 200
    assert suppressed("ana@example.org") == "complained"


def test_a_soft_bounce_is_counted_not_suppressed(client: TestClient) -> None:
    new_member("ana@example.org", new_list())
    assert post(client, postmark_bounce("ana@example.org", "SoftBounce")).status_code == 200
    assert suppressed("ana@example.org") is None
    assert soft_bounces("ana@example.org") == 1
    assert "soft bounces: 1" in shown("ana@example.org").splitlines()


def test_a_replayed_record_has_no_second_effect(client: TestClient) -> None:
    new_member("ana@example.org", new_list())
    record = postmark_bounce("ana@example.org", "Transient")
    assert post(client, record).status_code == 200
    before = snapshot()
    again = post(client, record)
    assert (again.status_code, again.text) == (
        200,
        "suppressed 0, soft bounces 0, unchanged 0, replayed 1\n",
    )
    assert snapshot() == before


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic_auth(POSTMARK_USER, "wrong"),
        basic_auth("someone", POSTMARK_PASSWORD),
        {"Authorization": "Bearer " + POSTMARK_PASSWORD},
    ],
)
def test_wrong_credentials_are_challenged(
    sqlite_db: str, make_client: ClientFactory, headers: dict[str, str]
) -> None:
    client = make_client()
    new_member("ana@example.org", new_list())
    before = snapshot()
    response = post(client, postmark_bounce("ana@example.org"), headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="webhooks"')
    assert snapshot() == before


def test_off_until_a_password_is_configured(sqlite_db: str, make_client: ClientFactory) -> None:
    client = make_client(postmark_webhook_password=None)
    assert post(client, postmark_bounce("ana@example.org")).status_code == 404
