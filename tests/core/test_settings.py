from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsletter.core.errors import ConfigError
from newsletter.core.settings import Brand, Settings
from tests.conftest import ROOT

ENV_EXAMPLE = ROOT / ".env.example"


def _documented() -> set[str]:
    # Lines look like `NEWSLETTER_X=value` or, for optional ones, `# NEWSLETTER_X=value`.
    pattern = re.compile(r"^#?\s*(NEWSLETTER_[A-Z0-9_]+)=", re.MULTILINE)
    return set(pattern.findall(ENV_EXAMPLE.read_text()))


def _env_name(field: str) -> str:
    return "NEWSLETTER_FROM" if field == "from_address" else f"NEWSLETTER_{field.upper()}"


def test_env_example_documents_every_setting() -> None:
    documented = _documented()
    expected = {_env_name(name) for name in Settings.model_fields if name != "brand"}
    expected |= {f"NEWSLETTER_BRAND__{name.upper()}" for name in Brand.model_fields}
    assert expected - documented == set()
    assert documented - expected == set(), "documents settings that do not exist"


def test_env_example_loads_as_valid_settings(tmp_path: Path) -> None:
    settings = Settings(_env_file=ENV_EXAMPLE)  # type: ignore[call-arg]
    assert settings.public_url.startswith("http")


def test_short_secret_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="at least 16"):
        Settings().signing_key()


def test_key_file_is_created_once_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSLETTER_SECRET_KEY")
    first = Settings().signing_key()
    assert Settings().signing_key() == first
    key_file = tmp_path / "data" / "secret.key"
    assert key_file.stat().st_mode & 0o077 == 0


def test_public_url_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "ftp://example.org")
    with pytest.raises(ValueError, match="http"):
        Settings()


def test_smtp_password_stays_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SMTP_URL", "smtps://user:hunter2-secret@mail.example.org")
    settings = Settings()
    assert settings.smtp_url.endswith("@mail.example.org")
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings)
