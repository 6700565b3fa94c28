from __future__ import annotations

from newsletter.core.settings import Settings
from newsletter.mail.sender import Sender, envelope_sender, sender_of

FROM = "MUSLIM Institute <newsletter@example.org>"


def test_the_envelope_sender_is_the_return_path_or_the_from_address() -> None:
    assert envelope_sender(FROM, None) == "newsletter@example.org"
    assert envelope_sender(FROM, "bounces@example.org") == "bounces@example.org"


def test_the_settings_name_the_sender() -> None:
    settings = Settings(
        _env_file=None,
        from_address=FROM,
        reply_to="office@example.org",
        unsubscribe_mailto="unsubscribe@example.org",
        public_url="https://news.example.org",
    )
    assert sender_of(settings) == Sender(
        from_address=FROM,
        reply_to="office@example.org",
        return_path="newsletter@example.org",
        unsubscribe_mailto="unsubscribe@example.org",
        public_url="https://news.example.org",
    )
