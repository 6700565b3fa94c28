"""The demo's staff account: created once, then given a new password on every run."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from newsletter.cli.demo_servers import STAFF_EMAIL, ensure_staff_account
from newsletter.store import staff
from newsletter.store.staff import MIN_PASSWORD_LENGTH, StaffUser, set_active
from tests.store.databases import session_scope


@pytest.fixture(autouse=True)
def _quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=8192))


def _account() -> StaffUser:
    with session_scope() as session:
        user = session.query(StaffUser).filter_by(email_key=STAFF_EMAIL).one()
        session.expunge(user)
        return user


def _password_is(password: str) -> bool:
    try:
        return staff._hasher.verify(_account().password_hash, password)
    except Exception:
        return False


def test_created_then_reset_enabled_and_its_sessions_ended(db: str) -> None:
    first = ensure_staff_account()
    assert first.created and first.email == STAFF_EMAIL
    assert len(first.password) >= MIN_PASSWORD_LENGTH
    assert _password_is(first.password)
    with session_scope(write=True) as session:
        set_active(session, STAFF_EMAIL, False)
    generation = _account().session_generation

    second = ensure_staff_account()
    assert not second.created
    assert second.password != first.password
    assert _password_is(second.password) and not _password_is(first.password)
    user = _account()
    assert user.active
    assert user.session_generation > generation
    with session_scope() as session:
        assert session.query(StaffUser).count() == 1
