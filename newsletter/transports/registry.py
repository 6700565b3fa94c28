"""Which transport a run uses: `NEWSLETTER_TRANSPORT` (or the CLI's --transport)."""

from __future__ import annotations

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Settings
from newsletter.transports.base import Transport

TRANSPORTS = ("smtp", "sendgrid", "mailgun", "postmark", "ses", "outbox")


def make_transport(settings: Settings, name: str | None = None) -> Transport:
    """The configured transport, or ConfigError naming the setting that is missing.

    Modules are imported on demand: boto3 alone takes longer to import than a small send.
    """
    chosen = (name or settings.transport).strip().lower()
    if chosen == "smtp":
        from newsletter.transports.smtp import SmtpTransport

        return SmtpTransport.from_settings(settings)
    if chosen == "sendgrid":
        from newsletter.transports.sendgrid import SendGridTransport

        return SendGridTransport.from_settings(settings)
    if chosen == "mailgun":
        from newsletter.transports.mailgun import MailgunTransport

        return MailgunTransport.from_settings(settings)
    if chosen == "postmark":
        from newsletter.transports.postmark import PostmarkTransport

        return PostmarkTransport.from_settings(settings)
    if chosen == "ses":
        from newsletter.transports.ses import SesTransport

        return SesTransport.from_settings(settings)
    if chosen == "outbox":
        from newsletter.transports.outbox import OutboxTransport

        return OutboxTransport.from_settings(settings)
    raise ConfigError(
        f"NEWSLETTER_TRANSPORT must be one of {', '.join(TRANSPORTS)}; got {chosen!r}"
    )
