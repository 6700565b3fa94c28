from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.databases import BACKENDS, isolated_database


@pytest.fixture(params=BACKENDS)
def db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The URL of an empty database of each backend, also set as NEWSLETTER_DATABASE_URL."""
    with isolated_database(request.param, tmp_path, monkeypatch) as url:
        yield url
