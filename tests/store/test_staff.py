from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from newsletter.store import staff
from newsletter.store.staff import (
    LoginAttempt,
    LoginCandidate,
    LoginLimits,
    NoSuchStaffUserError,
    PasswordCheck,
    StaffUser,
    add_user,
    begin_login,
    check_password,
    end_sessions,
    finish_login,
    hash_password,
    login_wait,
    retry_after,
    set_active,
    set_password,
)
from newsletter.store.types import utcnow
from tests.store.databases import session_scope

EMAIL = "comms@example.org"
PASSWORD = "correct horse battery"
IP = "192.0.2.1"
LIMITS = LoginLimits(per_ip=20, per_account=5, window=timedelta(seconds=900))


@pytest.fixture(autouse=True)
def _quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    # argon2id still, with the least work: the default takes 0.25 s a hash here.
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=8192))


def new_user(email: str = EMAIL) -> int:
    with session_scope(write=True) as session:
        return add_user(session, email, PASSWORD).id


def generation(user_id: int) -> int:
    with session_scope() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None
        return user.session_generation


def attempt(email: str, password: str, ip: str = IP) -> StaffUser | timedelta | None:
    """A whole login as the web side does it: the user, the wait, or None when wrong."""
    now = utcnow()
    with session_scope(write=True) as session:
        began = begin_login(session, email, ip, LIMITS, now)
    if isinstance(began, timedelta):
        return began
    checked = check_password(began, password)
    with session_scope(write=True) as session:
        return finish_login(session, began, checked, now)


def failures() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(LoginAttempt)) or 0


def test_delay_doubles_past_the_free_failures_and_stops_at_the_window() -> None:
    assert [LIMITS.delay(n).total_seconds() for n in range(4, 10)] == [0, 1, 2, 4, 8, 16]
    assert LIMITS.delay(5000) == LIMITS.window
    assert retry_after(timedelta(seconds=0.2)) == 1
    assert retry_after(timedelta(seconds=2.01)) == 3


def test_a_new_account_starts_at_generation_zero(db: str) -> None:
    assert generation(new_user()) == 0


def test_end_sessions_raises_the_generation_of_that_account_only(db: str) -> None:
    one, other = new_user(), new_user("other@example.org")
    with session_scope(write=True) as session:
        end_sessions(session, one)
        end_sessions(session, one)
    assert (generation(one), generation(other)) == (2, 0)


def test_set_password_takes_a_hash_and_ends_sessions(db: str) -> None:
    user_id = new_user()
    hashed = hash_password("a different long password")
    with session_scope(write=True) as session:
        set_password(session, "Comms@Example.org", hashed)
    assert generation(user_id) == 1
    assert attempt(EMAIL, PASSWORD) is None
    assert isinstance(attempt(EMAIL, "a different long password"), StaffUser)


def test_disabled_accounts_cannot_log_in_and_enabling_lets_them(db: str) -> None:
    user_id = new_user()
    with session_scope(write=True) as session:
        set_active(session, EMAIL, False)
    assert generation(user_id) == 1
    assert attempt(EMAIL, PASSWORD) is None
    with session_scope(write=True) as session:
        set_active(session, EMAIL, True)
    assert generation(user_id) == 1
    assert isinstance(attempt(EMAIL, PASSWORD), StaffUser)


def test_unknown_accounts_are_a_clear_error(db: str) -> None:
    with session_scope(write=True) as session:
        with pytest.raises(NoSuchStaffUserError, match="no staff account for nobody@"):
            set_active(session, "nobody@example.org", False)
        with pytest.raises(NoSuchStaffUserError):
            set_password(session, "nobody@example.org", hash_password(PASSWORD))


def test_an_attempt_counts_as_a_failure_until_it_succeeds(db: str) -> None:
    new_user()
    now = utcnow()
    with session_scope(write=True) as session:
        began = begin_login(session, EMAIL, IP, LIMITS, now)
    assert isinstance(began, LoginCandidate)
    # Recorded before the password is checked: concurrent tries each see the others.
    assert failures() == 1
    with session_scope(write=True) as session:
        assert finish_login(session, began, check_password(began, PASSWORD), now) is not None
    assert failures() == 0


def test_unknown_and_disabled_accounts_check_the_dummy_hash(db: str) -> None:
    unknown = LoginCandidate("nobody@example.org", IP, None, "")
    assert check_password(unknown, "no such account, but the same work") == PasswordCheck(False)


def test_a_password_changed_during_the_check_does_not_log_in(db: str) -> None:
    new_user()
    now = utcnow()
    with session_scope(write=True) as session:
        began = begin_login(session, EMAIL, IP, LIMITS, now)
    assert isinstance(began, LoginCandidate)
    checked = check_password(began, PASSWORD)
    with session_scope(write=True) as session:
        set_password(session, EMAIL, hash_password("changed meanwhile, long"))
    with session_scope(write=True) as session:
        assert finish_login(session, began, checked, now) is None


def test_an_outdated_hash_is_replaced_at_login(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    user_id = new_user()
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=2, memory_cost=8192))
    assert isinstance(attempt(EMAIL, PASSWORD), StaffUser)
    with session_scope() as session:
        user = session.get(StaffUser, user_id)
        assert user is not None and "t=2" in user.password_hash


def test_wait_per_account_and_address_and_per_address(db: str) -> None:
    new_user()
    now = utcnow()
    with session_scope(write=True) as session:
        for _ in range(5):
            session.add(LoginAttempt(ip=IP, email_key=EMAIL, at=now))
        session.flush()
        assert login_wait(session, EMAIL, IP, LIMITS, now) == timedelta(seconds=1)
        assert login_wait(session, EMAIL, "192.0.2.2", LIMITS, now) == timedelta(0)
        assert login_wait(session, "other@example.org", IP, LIMITS, now) == timedelta(0)
        assert login_wait(session, EMAIL, IP, LIMITS, now + LIMITS.window) == timedelta(0)
        for number in range(15):
            key = f"guess{number}@example.org"
            session.add(LoginAttempt(ip=IP, email_key=key, at=now + timedelta(seconds=10)))
        session.flush()
        # 20 from the address now: wait until the oldest leaves the window.
        later = now + timedelta(seconds=100)
        assert login_wait(session, "other@example.org", IP, LIMITS, later) == timedelta(seconds=800)
