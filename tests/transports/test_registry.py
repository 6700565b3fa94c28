from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Settings
from newsletter.transports import TRANSPORTS, Transport, make_transport
from newsletter.transports.outbox import OutboxTransport
from newsletter.transports.smtp import SmtpTransport


def test_the_default_is_smtp_to_a_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.transport == "smtp"
    assert settings.smtp_url == "smtp://127.0.0.1:1025"
    transport = make_transport(settings)
    try:
        assert isinstance(transport, SmtpTransport)
        assert isinstance(transport, Transport)
        assert transport.max_batch == 4 * 25
    finally:
        transport.close()


def test_the_environment_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_TRANSPORT", "Outbox")
    assert isinstance(make_transport(Settings()), OutboxTransport)


def test_an_explicit_name_overrides_the_setting() -> None:
    assert isinstance(make_transport(Settings(transport="smtp"), "outbox"), OutboxTransport)


def test_an_unknown_transport_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="must be one of smtp, sendgrid, mailgun"):
        make_transport(Settings(transport="pigeon"))
    assert TRANSPORTS == ("smtp", "sendgrid", "mailgun", "postmark", "ses", "outbox")


def test_a_bad_smtp_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SMTP_URL", "mail.example.org")
    with pytest.raises(ConfigError, match="NEWSLETTER_SMTP_URL"):
        make_transport(Settings())


def test_secrets_do_not_show_in_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", "SG.very-secret")
    monkeypatch.setenv("NEWSLETTER_POSTMARK_SERVER_TOKEN", "pm-very-secret")
    monkeypatch.setenv("NEWSLETTER_MAILGUN_API_KEY", "mg-very-secret")
    text = repr(Settings())
    assert "very-secret" not in text


@pytest.mark.parametrize("name", TRANSPORTS)
def test_every_transport_keeps_the_protocol(name: str, tmp_path: Path) -> None:
    settings = Settings(
        transport=name,
        sendgrid_api_key="SG.k",
        mailgun_api_key="mg-k",
        mailgun_domain="mg.example.org",
        postmark_server_token="pm-k",
        ses_region="eu-west-1",
        outbox_dir=tmp_path,
    )
    transport = make_transport(settings)
    try:
        assert isinstance(transport, Transport)
        assert transport.name == name
        assert transport.max_batch >= 1
        # Those that send the caller's RFC 5322 bytes; the HTTP APIs build their own.
        assert transport.wants_raw is (name in {"smtp", "ses", "outbox"})
    finally:
        transport.close()
