"""Which transport a run uses: `NEWSLETTER_TRANSPORT` (or the CLI's --transport).

The one place that reads `Settings` for the transports: each is built here from explicit
values, so a transport never knows where its configuration came from. Modules are imported
on demand: boto3 alone takes longer to import than a small send.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Settings
from newsletter.transports.base import Transport


def make_transport(settings: Settings, name: str | None = None) -> Transport:
    """The configured transport, or ConfigError naming the setting that is missing."""
    chosen = (name or settings.transport).strip().lower()
    build = _BUILDERS.get(chosen)
    if build is None:
        raise ConfigError(
            f"NEWSLETTER_TRANSPORT must be one of {', '.join(TRANSPORTS)}; got {chosen!r}"
        )
    return build(settings)


def _required(secret: SecretStr | None, setting: str, transport: str) -> str:
    if secret is None or not secret.get_secret_value():
        raise ConfigError(f"{setting} is not set ({transport} transport)")
    return secret.get_secret_value()


def _smtp(settings: Settings) -> Transport:
    from newsletter.transports.smtp import SmtpTransport, parse_smtp_url, tls_context

    return SmtpTransport(
        parse_smtp_url(settings.smtp_url),
        connections=settings.smtp_connections,
        context=tls_context(settings.smtp_ca_file),
        timeout=settings.smtp_timeout,
    )


def _sendgrid(settings: Settings) -> Transport:
    from newsletter.transports.http_api import checked_base_url
    from newsletter.transports.sendgrid import SendGridTransport

    key = _required(settings.sendgrid_api_key, "NEWSLETTER_SENDGRID_API_KEY", "sendgrid")
    return SendGridTransport(
        key,
        base_url=checked_base_url(settings.sendgrid_base_url, "NEWSLETTER_SENDGRID_BASE_URL"),
        timeout=settings.http_timeout,
    )


def _mailgun(settings: Settings) -> Transport:
    from newsletter.transports.http_api import checked_base_url
    from newsletter.transports.mailgun import MailgunTransport

    key = _required(settings.mailgun_api_key, "NEWSLETTER_MAILGUN_API_KEY", "mailgun")
    if not settings.mailgun_domain:
        raise ConfigError("NEWSLETTER_MAILGUN_DOMAIN is not set (mailgun transport)")
    return MailgunTransport(
        key,
        domain=settings.mailgun_domain,
        base_url=checked_base_url(settings.mailgun_base_url, "NEWSLETTER_MAILGUN_BASE_URL"),
        timeout=settings.http_timeout,
    )


def _postmark(settings: Settings) -> Transport:
    from newsletter.transports.http_api import checked_base_url
    from newsletter.transports.postmark import PostmarkTransport

    token = _required(
        settings.postmark_server_token, "NEWSLETTER_POSTMARK_SERVER_TOKEN", "postmark"
    )
    if not settings.postmark_message_stream:
        raise ConfigError("NEWSLETTER_POSTMARK_MESSAGE_STREAM must not be empty")
    return PostmarkTransport(
        token,
        base_url=checked_base_url(settings.postmark_base_url, "NEWSLETTER_POSTMARK_BASE_URL"),
        message_stream=settings.postmark_message_stream,
        timeout=settings.http_timeout,
    )


def _ses(settings: Settings) -> Transport:
    from newsletter.transports.ses import SesConfig, SesTransport

    return SesTransport.connect(
        SesConfig(
            region=settings.ses_region or None,
            endpoint_url=settings.ses_endpoint_url or None,
            concurrency=settings.ses_concurrency,
            read_timeout=settings.http_timeout,
        )
    )


def _outbox(settings: Settings) -> Transport:
    from newsletter.transports.outbox import OutboxTransport

    return OutboxTransport(settings.outbox_dir or settings.data_dir / "outbox")


_BUILDERS: dict[str, Callable[[Settings], Transport]] = {
    "smtp": _smtp,
    "sendgrid": _sendgrid,
    "mailgun": _mailgun,
    "postmark": _postmark,
    "ses": _ses,
    "outbox": _outbox,
}
TRANSPORTS = tuple(_BUILDERS)
