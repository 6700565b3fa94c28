"""Issue 9, item 4 (login floods): argon2 never runs while the write lock is held.

A client flooding failed logins used to cut one-click unsubscribes from 1,264 to 154 req/s:
each password check (a quarter second of argon2) ran inside `writing()`, holding this
process's writers' lock and SQLite's BEGIN IMMEDIATE. Here a password check is held open
on an Event while a one-click unsubscribe runs; it can only finish if no lock is held.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from httpx import Response

from newsletter.core.settings import Settings, get_settings
from newsletter.store import staff
from newsletter.web import create_app
from tests.conftest import ROOT
from tests.web.helpers import membership, new_list, new_member
from tests.web.staff.helpers import EMAIL, PASSWORD, browser, login, new_user

# Generous: only a failing run waits this long.
DEADLINE = 20.0


class HeldHasher(PasswordHasher):
    """argon2id with the least work, whose `verify` waits for `release` once entered."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192)
        self.entered = threading.Event()
        self.release = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.entered.set()
        assert self.release.wait(DEADLINE), "the test never released the password check"
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldHasher]:
    monkeypatch.setenv("NEWSLETTER_RECORDS_DIR", str(ROOT / "examples"))
    get_settings.cache_clear()
    held = HeldHasher()
    monkeypatch.setattr(staff, "_hasher", held)
    yield held
    held.release.set()


def in_thread(call: Any) -> tuple[threading.Thread, list[Response]]:
    answers: list[Response] = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


@pytest.mark.parametrize(
    ("email", "password", "status"),
    [
        (EMAIL, "a wrong password", 401),
        ("nobody@example.org", PASSWORD, 401),
        (EMAIL, PASSWORD, 303),
    ],
    ids=["wrong-password", "unknown-account", "right-password"],
)
def test_a_one_click_unsubscribe_completes_while_a_password_is_being_checked(
    db: str, hasher: HeldHasher, email: str, password: str, status: int
) -> None:
    new_user()
    member = new_member("reader@example.org", new_list())
    app: FastAPI = create_app(Settings())
    with browser(app, "192.0.2.66") as flooder, browser(app, "198.51.100.1") as receiver:
        logging_in, login_answers = in_thread(lambda: login(flooder, email, password))
        entered = hasher.entered.wait(DEADLINE)
        one_click, answers = in_thread(
            lambda: receiver.post(f"/u/{member.token('u')}", data={"List-Unsubscribe": "One-Click"})
        )
        one_click.join(DEADLINE)
        finished = not one_click.is_alive()
        hasher.release.set()
        # Both requests end before their clients close, whatever the outcome.
        one_click.join(DEADLINE)
        logging_in.join(DEADLINE)
    assert entered, "the login never reached the password check"
    assert finished, "the one-click unsubscribe waited for the password check"
    assert answers[0].status_code == 200
    assert membership(member)[0] == "unsubscribed"
    assert login_answers[0].status_code == status
