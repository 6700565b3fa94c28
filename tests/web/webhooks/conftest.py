"""The public app with every provider's webhook configured, and its signers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from newsletter.cli import app as cli
from newsletter.core.settings import Settings
from newsletter.store.addresses import lookup_key
from newsletter.store.models import Suppression
from newsletter.store.subscribers import soft_bounce_count, subscriber_details
from newsletter.web import create_app
from tests.store.databases import session_scope
from tests.webhooks.signing import MAILGUN_KEY, TOPIC, SendGridSigner, SnsSigner
from tests.webhooks.sns_server import LOCAL_PATTERN, SnsServer, sns_server

POSTMARK_USER = "postmark"
POSTMARK_PASSWORD = "a-long-random-webhook-password"


@pytest.fixture(scope="session")
def sns_signer() -> SnsSigner:
    return SnsSigner()


@pytest.fixture(scope="session")
def sendgrid_signer() -> SendGridSigner:
    return SendGridSigner()


@pytest.fixture
def sns(sns_signer: SnsSigner) -> Iterator[SnsServer]:
    """SNS's certificate and subscription URLs, served on loopback."""
    with sns_server(sns_signer.certificate_pem()) as server:
        yield server


ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(sendgrid_signer: SendGridSigner) -> Iterator[ClientFactory]:
    """An app whose webhooks are all configured (SNS pointed at the local server); keyword
    arguments override settings."""
    with ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            settings = Settings(
                **{
                    "ses_webhook_topic_arns": f"arn:aws:sns:us-east-1:1:other, {TOPIC}",
                    "sns_url_pattern": LOCAL_PATTERN,
                    "sendgrid_webhook_public_key": sendgrid_signer.public_key,
                    "mailgun_webhook_signing_key": MAILGUN_KEY,
                    "postmark_webhook_user": POSTMARK_USER,
                    "postmark_webhook_password": POSTMARK_PASSWORD,
                    **overrides,
                }
            )
            return stack.enter_context(TestClient(create_app(settings)))

        yield make


@pytest.fixture
def client(db: str, make_client: ClientFactory) -> TestClient:
    return make_client()


def suppressed(email: str) -> str | None:
    """The reason `email` is suppressed for, None if it is not."""
    with session_scope() as session:
        # By address, not through a subscriber: a suppression is kept for an address alone.
        found = session.scalar(
            select(Suppression.reason).where(Suppression.email_key == lookup_key(email))
        )
        return found.value if found is not None else None


def soft_bounces(email: str) -> int:
    with session_scope() as session:
        return soft_bounce_count(session, subscriber_details(session, email).subscriber.id)


def latest_event(email: str) -> tuple[str, str, str]:
    with session_scope() as session:
        event, _ = subscriber_details(session, email).events[0]
        return event.kind.value, event.source, event.detail or ""


def shown(email: str) -> str:
    """What `newsletter subscribers show` prints."""
    result = CliRunner().invoke(cli, ["subscribers", "show", email])
    assert result.exit_code == 0, result.output
    return result.stdout
