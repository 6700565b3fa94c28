from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from newsletter.core.settings import Settings, get_settings
from newsletter.store import staff
from newsletter.web import create_app
from tests.conftest import ROOT
from tests.sending.helpers import FROM
from tests.web.staff.helpers import browser


@pytest.fixture
def records_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_RECORDS_DIR", str(ROOT / "examples"))
    get_settings.cache_clear()


@pytest.fixture
def sending(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sender address, which sending needs."""
    monkeypatch.setenv("NEWSLETTER_FROM", FROM)
    get_settings.cache_clear()


@pytest.fixture
def staff_client(db: str, records_dir: None) -> Iterator[TestClient]:
    """The whole app on each database, as one browser (it keeps cookies)."""
    with browser(create_app(Settings())) as client:
        yield client


@pytest.fixture
def sqlite_client(sqlite_db: str, records_dir: None) -> Iterator[TestClient]:
    """As `staff_client`, on SQLite only: for what does not depend on the database."""
    with browser(create_app(Settings())) as client:
        yield client


@pytest.fixture(autouse=True)
def _quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    # argon2id still, with the least work: the default takes 0.25 s a login here.
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=8192))
