from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.core.settings import get_settings
from tests.store.databases import BACKENDS, isolated_database

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "khojaly-seminar-2022" / "record.yaml"


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data folder and secret key, and no stray .env."""
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("NEWSLETTER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NEWSLETTER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "test-secret-key-0123456789")
    # Refused logins answer at once in tests; test_login_limits checks the delay itself.
    monkeypatch.setenv("NEWSLETTER_STAFF_LOGIN_REFUSED_DELAY", "0")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(params=BACKENDS)
def db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The URL of an empty database of each backend, also set as NEWSLETTER_DATABASE_URL."""
    with isolated_database(request.param, tmp_path, monkeypatch) as url:
        yield url


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty SQLite database, for tests whose point is not the database."""
    with isolated_database("sqlite", tmp_path, monkeypatch) as url:
        yield url
