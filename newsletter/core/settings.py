"""Configuration from the environment and `.env`. `.env.example` documents every setting."""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newsletter.core.errors import ConfigError


class Brand(BaseModel):
    """How the newsletter looks and who sends it: configuration, not template edits."""

    name: str = "MUSLIM Institute"
    postal_address: str = "Islamabad, Pakistan"
    website: str = "https://example.org"
    # A path (relative to the working directory) or an https URL; empty means a text wordmark.
    logo: str = ""
    primary_colour: str = "#0b5d3b"
    accent_colour: str = "#c8a13a"
    text_colour: str = "#222222"
    background_colour: str = "#f3f3f3"
    font_family: str = "Georgia, 'Times New Roman', serif"
    heading_font_family: str = "Helvetica, Arial, sans-serif"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSLETTER_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    public_url: str = "http://127.0.0.1:8000"
    secret_key: SecretStr | None = None
    data_dir: Path = Path("subscribers")
    database_url: str = ""
    from_address: str = Field(
        default="MUSLIM Institute <newsletter@example.org>",
        validation_alias=AliasChoices("NEWSLETTER_FROM", "from_address"),
    )
    reply_to: str | None = None
    unsubscribe_mailto: str | None = None
    images: Literal["hosted", "inline"] = "hosted"
    brand: Brand = Brand()
    max_photo_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="Largest speaker photo a record may name, in bytes; larger ones are "
        "refused as a problem of the record.",
    )
    photo_budget_bytes: int = Field(
        default=60 * 1024,
        ge=1,
        description="What each photo and the logo may weigh once prepared for mail (resized, "
        "re-encoded), in bytes; the composer warns about a larger one, and build --strict "
        "fails on it.",
    )
    templates_dir: Path | None = Field(
        default=None,
        description="Folder of email templates (seminar.mjml.j2, seminar.txt.j2, "
        "seminar.print.html.j2) that override the packaged ones; any one left out is the "
        "packaged one. Unset: the packaged templates.",
    )

    # Delivery: how messages leave (newsletter.transports), one transport per run.
    transport: str = Field(
        default="smtp",
        description="Delivery transport: smtp, sendgrid, mailgun, postmark, ses or outbox.",
    )
    smtp_url: str = Field(
        default="smtp://127.0.0.1:1025",
        # It may carry a password, which must not end up in logs or tracebacks.
        repr=False,
        description="smtp://, smtp+starttls:// or smtps://[user:password@]host[:port]; "
        "user and password URL-encoded.",
    )
    smtp_connections: int = Field(
        default=4, ge=1, le=64, description="SMTP connections kept open and used in parallel."
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="Extra CA certificates (PEM) to trust for the SMTP server's TLS certificate.",
    )
    smtp_timeout: float = Field(
        default=30.0, gt=0, description="Seconds to wait for the SMTP server at each step."
    )
    http_timeout: float = Field(
        default=60.0, gt=0, description="Seconds to wait for an HTTP mail API's answer."
    )
    sendgrid_api_key: SecretStr | None = Field(default=None, description="SendGrid API key.")
    sendgrid_base_url: str = Field(
        default="https://api.sendgrid.com", description="SendGrid API base URL."
    )
    mailgun_api_key: SecretStr | None = Field(default=None, description="Mailgun API key.")
    mailgun_domain: str = Field(default="", description="Mailgun sending domain.")
    mailgun_base_url: str = Field(
        default="https://api.mailgun.net",
        description="Mailgun API base URL (https://api.eu.mailgun.net for the EU region).",
    )
    postmark_server_token: SecretStr | None = Field(
        default=None, description="Postmark server API token."
    )
    postmark_base_url: str = Field(
        default="https://api.postmarkapp.com", description="Postmark API base URL."
    )
    postmark_message_stream: str = Field(
        default="broadcast", description="Postmark message stream for newsletters."
    )
    ses_region: str = Field(
        default="", description="Amazon SES region; empty means AWS_REGION / AWS config."
    )
    ses_endpoint_url: str = Field(
        default="", description="Amazon SES endpoint URL; empty means the region's default."
    )
    ses_concurrency: int = Field(
        default=8, ge=1, le=64, description="Amazon SES requests in flight at once."
    )
    outbox_dir: Path | None = Field(
        default=None, description="Folder for the outbox transport; default <data_dir>/outbox."
    )

    # Rate limit and DKIM: how fast messages leave (newsletter.sending.ratelimit) and how
    # they are signed (newsletter.mail.dkim).
    rate_limit: float = Field(
        default=0.0,
        ge=0,
        allow_inf_nan=False,
        description="Messages per second over all connections; 0 means no limit.",
    )
    hourly_limit: int | None = Field(
        default=None,
        ge=0,
        description="Messages in any 3600-second window; empty or 0 means no cap.",
    )
    dkim_domain: str | None = Field(
        default=None, description="DKIM signing domain (d=); unset means messages go unsigned."
    )
    dkim_selector: str | None = Field(
        default=None,
        description="DKIM selector (s=): the key is at <selector>._domainkey.<domain>.",
    )
    dkim_key_file: Path | None = Field(
        default=None, description="DKIM private key, PEM (RSA of 1024+ bits, or Ed25519)."
    )

    # Sending: how a campaign runner (newsletter.sending) batches, retries and gives up.
    send_batch_size: int = Field(
        default=0, ge=0, description="Deliveries per batch; 0 means the transport's own size."
    )
    send_max_attempts: int = Field(
        default=5, ge=1, le=100, description="Tries per message before it is marked failed."
    )
    send_retry_base: float = Field(
        default=30.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds before the first retry; doubled for each later one (with jitter).",
    )
    send_retry_max: float = Field(
        default=3600.0, gt=0, allow_inf_nan=False, description="Longest wait between retries."
    )
    send_pause_after_failures: int = Field(
        default=50,
        ge=1,
        description="Failed or deferred messages in a row that pause a campaign (error storm).",
    )
    outage_window: float = Field(
        default=300.0,
        ge=0,
        allow_inf_nan=False,
        description="Seconds a campaign keeps retrying, with backoff, while the server cannot "
        "be reached (refused or lost connections, 421) before it pauses; 0 pauses at once.",
    )
    hard_bounce_limit: int = Field(
        default=2,
        ge=1,
        description="Hard bounces (permanent refusals of the address), over all campaigns, "
        "after which an address is suppressed as bounced.",
    )
    send_lease_timeout: float = Field(
        default=60.0,
        ge=5,
        allow_inf_nan=False,
        description="Seconds without a heartbeat after which another runner may take over a "
        "campaign (at once when the old one ran on this host and has died).",
    )
    return_path: str | None = Field(
        default=None,
        description="Envelope sender (where bounces go); unset means the From address.",
    )

    # Workers (newsletter.sending.worker): campaigns sent by Celery workers instead of the
    # process that starts them.
    broker_url: str = Field(
        default="",
        # It may carry a password.
        repr=False,
        description="Celery broker for sending workers: redis://host:port/db or "
        "amqp://user:password@host:port/vhost; empty: every campaign is sent by the process "
        "that starts it.",
    )
    broker_queue: str = Field(
        default="newsletter-sending",
        min_length=1,
        description="The broker queue sending workers take campaigns from.",
    )
    rate_redis_url: str = Field(
        default="",
        # It may carry a password.
        repr=False,
        description="Redis that sending workers share their rate limit through "
        "(redis://, rediss:// or unix://); default: the broker's URL when that is redis://.",
    )

    # The staff area (newsletter.web.staff): records to preview, logins and sessions.
    time_zone: str = Field(
        default="UTC",
        description="The staff's time zone (an IANA name such as Asia/Karachi): scheduled "
        "sends are shown in it, and a time typed without an offset is taken in it.",
    )
    records_dir: Path = Field(
        default=Path("examples"), description="Folder of records the staff area offers."
    )
    staff_session_hours: float = Field(
        default=12.0, gt=0, allow_inf_nan=False, description="Hours a staff login lasts."
    )
    staff_login_attempts_per_ip: int = Field(
        default=20, ge=1, description="Failed staff logins from one address per window."
    )
    staff_login_attempts_per_account: int = Field(
        default=5,
        ge=1,
        description="Failed logins to one staff account from one address within the window "
        "before each further try from there waits, 1 s doubling each time.",
    )
    staff_login_window: int = Field(
        default=900, ge=1, description="Seconds over which failed staff logins are counted."
    )
    staff_login_refused_delay: float = Field(
        default=1.0,
        ge=0,
        le=30,
        allow_inf_nan=False,
        description="Seconds a refused staff login (429) waits before it is answered, so "
        "that a client flooding the login form slows itself down, not the server.",
    )

    # Bounce and complaint webhooks (newsletter.web.routes.webhooks): each provider's route
    # answers 404 until its credential is set.
    webhook_max_age: int = Field(
        default=300,
        ge=1,
        description="Seconds a signed webhook's timestamp may be away from now (SendGrid, "
        "Mailgun, SNS); anything older is refused as a replay.",
    )
    ses_webhook_topic_arns: str = Field(
        default="",
        description="Comma-separated SNS topic ARNs whose SES notifications /webhooks/ses "
        "accepts; empty: that webhook is off.",
    )
    sns_url_pattern: str = Field(
        default=r"https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?",
        description="Scheme and host (a regular expression matching them in full) that SNS "
        "signing certificates and subscription confirmations may be fetched from.",
    )
    sendgrid_webhook_public_key: str | None = Field(
        default=None,
        description="SendGrid Event Webhook verification key (base64, as SendGrid shows it); "
        "unset: /webhooks/sendgrid is off.",
    )
    mailgun_webhook_signing_key: SecretStr | None = Field(
        default=None,
        description="Mailgun HTTP webhook signing key; unset: /webhooks/mailgun is off.",
    )
    postmark_webhook_user: str = Field(
        default="", description="User name Postmark's webhook URL carries (basic auth)."
    )
    postmark_webhook_password: SecretStr | None = Field(
        default=None,
        description="Password Postmark's webhook URL carries; unset: /webhooks/postmark is off.",
    )

    @field_validator("sns_url_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _sendgrid_key(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        # Refused now, at start-up, rather than on every webhook request.
        from newsletter.webhooks.sendgrid import load_public_key

        load_public_key(value)
        return value

    @field_validator(
        "hourly_limit",
        "dkim_domain",
        "dkim_selector",
        "dkim_key_file",
        "return_path",
        "templates_dir",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `NEWSLETTER_HOURLY_LIMIT=` in .env means "not set", not "invalid number".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rate_redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        value = value.strip()
        # The URLs redis-py connects to.
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        value = value.strip() or "UTC"
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a time zone name; use one such as UTC or Asia/Karachi"
            ) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'newsletter.db'}"

    def signing_key(self) -> bytes:
        """The HMAC key for signed links.

        Taken from NEWSLETTER_SECRET_KEY; without it, a random key is created once in the
        git-ignored data folder, so a fresh checkout works and links stay valid across runs.
        """
        if self.secret_key is not None:
            key = self.secret_key.get_secret_value()
            if len(key) < 16:
                raise ConfigError("NEWSLETTER_SECRET_KEY must be at least 16 characters")
            return key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".secret.key.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
            # link() fails if another process won the race; then its key is the one to use.
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip().encode()


def shared_redis_url(settings: Settings) -> str | None:
    """The Redis that sending workers share their rate limit through: NEWSLETTER_RATE_REDIS_URL,
    else the broker's when the broker is Redis; None when there is neither."""
    if settings.rate_redis_url:
        return settings.rate_redis_url
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return settings.broker_url
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def load_settings(**overrides: Any) -> Settings:
    """`get_settings()`, with invalid values reported as one ConfigError naming each variable.

    `overrides` (by field name) win over the environment and `.env`, without changing them.
    """
    try:
        return Settings(**overrides) if overrides else get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"NEWSLETTER_{'__'.join(map(str, error['loc'])).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid setting: {problems}") from None
