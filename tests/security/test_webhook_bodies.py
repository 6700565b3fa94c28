"""Hostile webhook bodies: none gets a 500, and a stranger is refused before parsing.

Every provider is configured. The bodies are sent as each provider's authentic request
would be (SendGrid's signed, Postmark's with its credentials), so that parsing is reached:
SES and Mailgun carry their signature inside the JSON, so for them parsing comes first.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from newsletter.web.routes.webhooks import MAX_BODY
from tests.web.webhooks import conftest as webhooks
from tests.web.webhooks.conftest import POSTMARK_PASSWORD, POSTMARK_USER, ClientFactory
from tests.webhooks.signing import SendGridSigner, SnsSigner, basic_auth, sns_notification
from tests.webhooks.sns_server import SnsServer

# The webhook tests' fixtures, used here under their own names.
make_client = webhooks.make_client
sendgrid_signer = webhooks.sendgrid_signer
sns_signer = webhooks.sns_signer
sns = webhooks.sns

PROVIDERS = ("ses", "sendgrid", "mailgun", "postmark")
BODIES = {
    "1 MB of [": b"[" * 1_000_000,
    "deep nesting inside an object": b'{"signature": ' + b"[" * 100_000,
    "invalid UTF-8": b'{"signature": "\xff\xfe\xfd"}',
    "truncated JSON": b'{"signature": {"timestamp": "17',
    "a JSON string": b'"just a string"',
    "a JSON number": b"12",
    "a JSON array of numbers": b"[1, 2, 3]",
    "empty": b"",
}
POSTMARK_AUTH = basic_auth(POSTMARK_USER, POSTMARK_PASSWORD)


@pytest.fixture
def client(sqlite_db: str, make_client: ClientFactory) -> TestClient:
    return make_client()


def authentic_headers(provider: str, body: bytes, signer: SendGridSigner) -> dict[str, str]:
    """What the provider's own request would carry besides the body."""
    if provider == "sendgrid":
        return signer.headers(body)
    if provider == "postmark":
        return {"Content-Type": "application/json", **POSTMARK_AUTH}
    return {"Content-Type": "application/json"}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_a_body_that_does_not_parse_is_400(
    client: TestClient, sendgrid_signer: SendGridSigner, provider: str, body: bytes
) -> None:
    response = client.post(
        f"/webhooks/{provider}",
        content=body,
        headers=authentic_headers(provider, body, sendgrid_signer),
    )

    # Only SES and Mailgun bodies can fail their signature check (it is inside them).
    allowed = {400, 403} if provider in ("ses", "mailgun") else {400}
    assert response.status_code in allowed, response.text
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("provider", ("ses", "mailgun"))
def test_a_body_that_is_not_json_says_so(client: TestClient, provider: str) -> None:
    response = client.post(f"/webhooks/{provider}", content=b"[" * 1_000_000)

    assert response.status_code == 400
    assert response.text == "the body is not JSON\n"


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {
            "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQD",
            "X-Twilio-Email-Event-Webhook-Timestamp": "1700000000",
        },
    ],
    ids=["no signature", "a wrong signature"],
)
def test_sendgrid_refuses_a_stranger_before_parsing(
    client: TestClient, body: bytes, headers: dict[str, str]
) -> None:
    response = client.post("/webhooks/sendgrid", content=body, headers=headers)

    # 403, not the 400 a parsed body would get: the signature was checked first.
    assert response.status_code == 403, response.text


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.parametrize(
    "headers",
    [{}, basic_auth(POSTMARK_USER, "wrong"), {"Authorization": "Basic !!"}],
    ids=["no credentials", "a wrong password", "malformed credentials"],
)
def test_postmark_refuses_a_stranger_before_parsing(
    client: TestClient, body: bytes, headers: dict[str, str]
) -> None:
    response = client.post("/webhooks/postmark", content=body, headers=headers)

    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Basic")


def test_strangers_are_refused_before_their_body_is_even_read(client: TestClient) -> None:
    # Too big to be read: a route that read it first would answer 413.
    too_big = b"[" * (MAX_BODY + 1)

    postmark = client.post("/webhooks/postmark", content=too_big)
    sendgrid = client.post("/webhooks/sendgrid", content=too_big)

    assert postmark.status_code == 401
    assert sendgrid.status_code == 403
    assert sendgrid.text == "the signature headers are missing\n"
    # With credentials, the same body is read as far as the limit, and refused as too big.
    assert (
        client.post("/webhooks/postmark", content=too_big, headers=POSTMARK_AUTH).status_code == 413
    )


def test_a_signed_sns_message_whose_message_nests_deeply_changes_nothing(
    client: TestClient, sns_signer: SnsSigner, sns: SnsServer
) -> None:
    notification = sns_notification({})
    notification["Message"] = "[" * 100_000
    document = sns_signer.sign(notification, sns.cert_url)

    response = client.post(
        "/webhooks/ses", content=json.dumps(document), headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 200, response.text
    assert response.text == "nothing to act on\n"
