"""The webhooks' configuration, read from the settings once per app.

A provider whose credential is not set has no entry here, and its route answers 404.
`fetch` (how SNS URLs are fetched) can be replaced, together with `sns_url_pattern` in
the settings, to point SNS at another server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from newsletter.core.settings import Settings
from newsletter.webhooks import sendgrid
from newsletter.webhooks.sns_certificates import CertificateCache, Fetch, https_fetcher

# Seconds to wait for SNS while its request waits for us; SNS answers in well under one.
FETCH_TIMEOUT = 10.0


@dataclass(frozen=True)
class PostmarkCredentials:
    user: str
    password: str


@dataclass(frozen=True)
class WebhookConfig:
    max_age: timedelta
    ses_topics: frozenset[str]
    sns_url_pattern: re.Pattern[str]
    fetch: Fetch
    sendgrid_key: ec.EllipticCurvePublicKey | None
    mailgun_key: bytes | None
    postmark: PostmarkCredentials | None
    certificates: CertificateCache = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "certificates", CertificateCache(self.fetch))

    @classmethod
    def from_settings(cls, settings: Settings, *, fetch: Fetch | None = None) -> WebhookConfig:
        sendgrid_key = settings.sendgrid_webhook_public_key
        mailgun_key = _secret(settings.mailgun_webhook_signing_key)
        postmark_password = _secret(settings.postmark_webhook_password)
        return cls(
            max_age=timedelta(seconds=settings.webhook_max_age),
            ses_topics=frozenset(
                arn.strip() for arn in settings.ses_webhook_topic_arns.split(",") if arn.strip()
            ),
            sns_url_pattern=re.compile(settings.sns_url_pattern),
            fetch=fetch or https_fetcher(FETCH_TIMEOUT),
            sendgrid_key=sendgrid.load_public_key(sendgrid_key) if sendgrid_key else None,
            mailgun_key=mailgun_key.encode() if mailgun_key else None,
            postmark=(
                PostmarkCredentials(settings.postmark_webhook_user, postmark_password)
                if postmark_password
                else None
            ),
        )


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""
