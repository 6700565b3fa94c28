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
from tests.webhooks.signing import (
    SnsSigner,
    now,
    ses_bounce,
    ses_complaint,
    sns_notification,
    sns_subscription_confirmation,
)
from tests.webhooks.sns_server import CERT_PATH, SnsServer

URL = "/webhooks/ses"


def post(client: TestClient, document: dict[str, str]) -> Response:
    # As SNS posts: JSON in a text/plain body, with its type in a header.
    return client.post(
        URL,
        content=json.dumps(document),
        headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": document.get("Type", ""),
        },
    )


def notify(
    client: TestClient,
    signer: SnsSigner,
    sns: SnsServer,
    notification: dict[str, Any],
    version: str = "1",
    **options: Any,
) -> tuple[Response, dict[str, str]]:
    document = signer.sign(sns_notification(notification, **options), sns.cert_url, version)
    return post(client, document), document


def test_a_subscription_confirmation_is_confirmed_at_sns(
    sqlite_db: str, make_client: ClientFactory, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    client = make_client()
    subscribe_url = sns.subscribe_url("tok3n")
    document = sns_signer.sign(sns_subscription_confirmation(subscribe_url), sns.cert_url, "2")
    response = post(client, document)
    assert response.status_code == 200, response.text
    assert response.text == "subscription confirmed\n"
    assert subscribe_url.removeprefix(sns.base) in sns.requests


def test_a_subscribe_url_elsewhere_is_not_fetched(
    sqlite_db: str, make_client: ClientFactory, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    client = make_client()
    elsewhere = sns.subscribe_url().replace("127.0.0.1", "localhost")
    document = sns_signer.sign(sns_subscription_confirmation(elsewhere), sns.cert_url, "2")
    response = post(client, document)
    assert response.status_code == 403
    assert "not an SNS URL" in response.text
    assert sns.requests == [CERT_PATH]  # the certificate, to verify; nothing else


def test_a_hard_bounce_suppresses_with_an_audit_event(
    client: TestClient, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    members = new_list()
    new_member("ana@example.org", members)
    new_member("bo@example.org", members)
    response, document = notify(
        client, sns_signer, sns, ses_bounce("ana@example.org", "Bo@Example.org"), "1"
    )
    assert response.status_code == 200, response.text
    assert response.text == "suppressed 2, soft bounces 0, unchanged 0, replayed 0\n"
    assert suppressed("ana@example.org") == suppressed("bo@example.org") == "bounced"
    kind, source, detail = latest_event("ana@example.org")
    assert (kind, source) == ("bounced", "webhook:ses")
    assert detail.startswith(f"ses event {document['MessageId']}: hard bounce, Permanent/General")


def test_a_complaint_suppresses(client: TestClient, sns_signer: SnsSigner, sns: SnsServer) -> None:
    new_member("ana@example.org", new_list())
    response, _ = notify(client, sns_signer, sns, ses_complaint("ana@example.org"), "2")
    assert response.status_code == 200, response.text
    assert suppressed("ana@example.org") == "complained"
    assert latest_event("ana@example.org")[:2] == ("complained", "webhook:ses")


def test_a_soft_bounce_is_counted_not_suppressed(
    client: TestClient, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    new_member("ana@example.org", new_list())
    for _ in range(2):
        response, _ = notify(
            client, sns_signer, sns, ses_bounce("ana@example.org", bounce_type="Transient"), "2"
        )
        assert response.status_code == 200, response.text
    assert suppressed("ana@example.org") is None
    assert soft_bounces("ana@example.org") == 2
    assert "soft bounces: 2" in shown("ana@example.org").splitlines()
    # Both messages were signed with one certificate: fetched once.
    assert sns.count(CERT_PATH) == 1


def test_a_replayed_notification_has_no_second_effect(
    client: TestClient, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    new_member("ana@example.org", new_list())
    soft = ses_bounce("ana@example.org", bounce_type="Transient")
    first, document = notify(client, sns_signer, sns, soft)
    assert first.status_code == 200
    before = snapshot()
    again = post(client, document)
    assert again.status_code == 200
    assert again.text == "suppressed 0, soft bounces 0, unchanged 0, replayed 1\n"
    assert snapshot() == before
    assert soft_bounces("ana@example.org") == 1


def test_stale_notifications_are_refused(
    client: TestClient, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    new_member("ana@example.org", new_list())
    before = snapshot()
    response, _ = notify(
        client, sns_signer, sns, ses_bounce("ana@example.org"), at=now() - timedelta(minutes=6)
    )
    assert response.status_code == 403
    assert "outside the allowed window" in response.text
    assert snapshot() == before


def test_the_allowed_age_is_configurable(
    sqlite_db: str, make_client: ClientFactory, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    new_member("ana@example.org", new_list())
    client = make_client(webhook_max_age=3600)
    response, _ = notify(
        client, sns_signer, sns, ses_bounce("ana@example.org"), at=now() - timedelta(minutes=30)
    )
    assert response.status_code == 200, response.text
    assert suppressed("ana@example.org") == "bounced"


@pytest.mark.parametrize("tamper", ["other key", "changed message", "version 3"])
def test_wrongly_signed_notifications_are_refused(
    sqlite_db: str, make_client: ClientFactory, sns_signer: SnsSigner, sns: SnsServer, tamper: str
) -> None:
    client = make_client()
    new_member("ana@example.org", new_list())
    signer = SnsSigner() if tamper == "other key" else sns_signer
    document = signer.sign(sns_notification(ses_bounce("bo@example.org")), sns.cert_url, "2")
    if tamper == "changed message":
        document["Message"] = json.dumps(ses_bounce("ana@example.org"))
    if tamper == "version 3":
        document["SignatureVersion"] = "3"
    before = snapshot()
    response = post(client, document)
    assert response.status_code == 403
    assert snapshot() == before


def test_a_certificate_from_elsewhere_is_never_fetched(
    sqlite_db: str, make_client: ClientFactory, sns: SnsServer
) -> None:
    client = make_client()
    new_member("ana@example.org", new_list())
    # Signed by a key whose certificate sits at a URL the pattern does not allow.
    forger = SnsSigner()
    elsewhere = sns.cert_url.replace("127.0.0.1", "localhost")
    document = forger.sign(sns_notification(ses_bounce("ana@example.org")), elsewhere, "2")
    response = post(client, document)
    assert response.status_code == 403
    assert "not an SNS URL" in response.text
    assert sns.requests == []
    assert suppressed("ana@example.org") is None


def test_other_topics_are_refused(
    sqlite_db: str, make_client: ClientFactory, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    client = make_client()
    new_member("ana@example.org", new_list())
    response, _ = notify(
        client,
        sns_signer,
        sns,
        ses_bounce("ana@example.org"),
        topic="arn:aws:sns:eu-west-1:999999999999:someone-elses",
    )
    assert response.status_code == 403
    assert "not a configured topic" in response.text
    assert suppressed("ana@example.org") is None


def test_unknown_addresses_are_accepted_and_ignored(
    client: TestClient, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    new_member("ana@example.org", new_list())
    before = snapshot()
    response, _ = notify(client, sns_signer, sns, ses_complaint("stranger@example.org"))
    assert response.status_code == 200
    assert response.text == "suppressed 0, soft bounces 0, unchanged 1, replayed 0\n"
    del before["webhook_receipts"]
    after = snapshot()
    del after["webhook_receipts"]
    assert after == before


def test_sns_unreachable_asks_for_a_retry(
    sqlite_db: str, make_client: ClientFactory, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    client = make_client()
    new_member("ana@example.org", new_list())
    sns.status = 503
    response, document = notify(client, sns_signer, sns, ses_bounce("ana@example.org"))
    assert response.status_code == 502
    assert suppressed("ana@example.org") is None
    sns.status = 200
    assert post(client, document).status_code == 200
    assert suppressed("ana@example.org") == "bounced"


def test_other_messages_and_bodies(
    sqlite_db: str, make_client: ClientFactory, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    client = make_client()
    response, _ = notify(client, sns_signer, sns, {"notificationType": "Delivery"})
    assert (response.status_code, response.text) == (200, "nothing to act on\n")
    unsubscribed = sns_signer.sign(
        {**sns_subscription_confirmation(sns.subscribe_url()), "Type": "UnsubscribeConfirmation"},
        sns.cert_url,
    )
    assert post(client, unsubscribed).status_code == 200
    assert client.post(URL, content=b"not json").status_code == 400
    assert client.post(URL, content=b'{"Type": "Notification"}').status_code == 400


def test_off_until_a_topic_is_configured(sqlite_db: str, make_client: ClientFactory) -> None:
    client = make_client(ses_webhook_topic_arns=" ")
    response = client.post(URL, content=b"{}")
    assert response.status_code == 404
    assert "Page not found" in response.text
