"""Issue 9, item 7 (lockout): a stranger cannot lock a staff member out.

Five wrong passwords from anywhere used to lock the account for everyone for 15 minutes.
Failures now count per client address (a hard limit) and per account and address (a
delay that doubles with each further failure); the owner from another address is not
slowed down. The app's clock is injected, so no test sleeps.
"""

from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Engine

from newsletter.core.settings import Settings, get_settings
from newsletter.store import staff
from newsletter.web import create_app
from tests.conftest import ROOT
from tests.web.staff.helpers import EMAIL, Clock, browser, login, new_user

STRANGER = "192.0.2.66"
OWNER = "198.51.100.7"
WRONG = "not the password at all"


@pytest.fixture(autouse=True)
def _staff_area(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_RECORDS_DIR", str(ROOT / "examples"))
    get_settings.cache_clear()
    # argon2id still, with the least work: the default takes 0.25 s a login here.
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=8192))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def web(db: str, clock: Clock) -> FastAPI:
    new_user()
    return create_app(Settings(), clock=clock)


def test_twenty_wrong_passwords_from_a_stranger_do_not_lock_the_owner_out(
    web: FastAPI,
) -> None:
    with browser(web, STRANGER) as stranger:
        answers = [login(stranger, password=WRONG).status_code for _ in range(20)]
    assert answers == [401] * 5 + [429] * 15
    with browser(web, OWNER) as owner:
        assert login(owner).status_code == 303
        assert owner.get("/staff/").status_code == 200


def test_the_stranger_waits_longer_after_each_failure(web: FastAPI, clock: Clock) -> None:
    with browser(web, STRANGER) as stranger:
        for _ in range(5):
            assert login(stranger, password=WRONG).status_code == 401
        for expected in (1, 2, 4, 8, 16, 32):
            refused = login(stranger, password=WRONG)
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == str(expected)
            clock.advance(expected - 0.5)
            # Not yet; and refused tries do not count, so the wait is only what is left.
            early = login(stranger, password=WRONG)
            assert early.status_code == 429
            assert early.headers["retry-after"] == "1"
            clock.advance(0.5)
            assert login(stranger, password=WRONG).status_code == 401


def test_the_right_password_during_the_delay_gets_the_same_refusal(
    web: FastAPI, clock: Clock
) -> None:
    with browser(web, STRANGER) as client:
        for _ in range(5):
            login(client, password=WRONG)
        wrong = login(client, password=WRONG)
        right = login(client)
        # No oracle: a guess during the delay is not checked at all.
        assert wrong.status_code == right.status_code == 429
        assert client.get("/staff/").status_code == 303
        clock.advance(1)
        assert login(client).status_code == 303


def test_the_owner_logging_in_does_not_reset_the_strangers_delay(
    web: FastAPI, clock: Clock
) -> None:
    with browser(web, STRANGER) as stranger:
        for _ in range(6):
            login(stranger, password=WRONG)
        clock.advance(1)
        assert login(stranger, password=WRONG).status_code == 401
        with browser(web, OWNER) as owner:
            assert login(owner).status_code == 303
        refused = login(stranger, password=WRONG)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"


def test_one_address_guessing_many_accounts_hits_the_limit_per_address(
    web: FastAPI, clock: Clock
) -> None:
    with browser(web, STRANGER) as stranger:
        for number in range(20):
            assert login(stranger, f"guess{number}@example.org", WRONG).status_code == 401
            clock.advance(1)
        # Twenty failures in the window (the first 20 s ago): the address waits for the
        # first to age out of the 900 s window, for any account and any password.
        refused = login(stranger)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "880"
        clock.advance(880)
        assert login(stranger).status_code == 303
    with browser(web, OWNER) as owner:
        assert login(owner).status_code == 303


def test_failures_age_out_of_the_window(web: FastAPI, clock: Clock) -> None:
    with browser(web, STRANGER) as stranger:
        for _ in range(5):
            login(stranger, EMAIL, WRONG)
        assert login(stranger, password=WRONG).status_code == 429
        clock.advance(901)
        for _ in range(5):
            assert login(stranger, password=WRONG).status_code == 401


def test_a_flood_of_refused_tries_is_answered_without_the_database(
    web: FastAPI, clock: Clock
) -> None:
    """Issue 9, item 4: a flood of 429s must not cost a transaction each, or it slows the
    one-click unsubscribes that share the server. The store's refusal is remembered until
    it runs out, and only until then."""
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    with browser(web, STRANGER) as stranger:
        for _ in range(5):
            assert login(stranger, password=WRONG).status_code == 401
        first = login(stranger, password=WRONG)
        assert (first.status_code, first.headers["retry-after"]) == (429, "1")
        event.listen(Engine, "before_cursor_execute", count)
        try:
            refused = [login(stranger, password=WRONG) for _ in range(50)]
            # The right password is refused the same way: no oracle from memory either.
            refused.append(login(stranger))
        finally:
            event.remove(Engine, "before_cursor_execute", count)
        assert {(r.status_code, r.headers["retry-after"]) for r in refused} == {(429, "1")}
        assert statements == []
        clock.advance(1)
        assert login(stranger, password=WRONG).status_code == 401
        refused_again = login(stranger, password=WRONG)
        assert (refused_again.status_code, refused_again.headers["retry-after"]) == (429, "2")


def test_a_refused_try_is_answered_only_after_the_refusal_delay(
    monkeypatch: pytest.MonkeyPatch, db: str, clock: Clock
) -> None:
    """A client flooding the form in a loop waits on a timer for each refusal, so it can
    send only a few tries a second; the one-click unsubscribes keep the server."""
    monkeypatch.setenv("NEWSLETTER_STAFF_LOGIN_REFUSED_DELAY", "0.3")
    new_user()
    web = create_app(Settings(), clock=clock)
    with browser(web, STRANGER) as stranger:
        for _ in range(5):
            assert login(stranger, password=WRONG).status_code == 401
        began = time.monotonic()
        assert login(stranger, password=WRONG).status_code == 429
        assert time.monotonic() - began >= 0.3
