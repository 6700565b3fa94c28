from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.store import session_scope, staff
from newsletter.store.staff import StaffUser, authenticate

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    # argon2id still, with the least work: the default takes 0.25 s a hash here.
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=8192))


def run(*args: str, input: str = "") -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def test_add_asks_twice_and_stores_an_argon2_hash(db: str) -> None:
    result = run("users", "add", "Comms@Example.org", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "created staff account Comms@example.org" in result.stdout
    assert PASSWORD not in result.output
    with session_scope(write=True) as session:
        user = session.query(StaffUser).one()
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert authenticate(session, "comms@example.org", PASSWORD, "127.0.0.1") is not None
        assert authenticate(session, "comms@example.org", "wrong password!", "127.0.0.1") is None


def test_mismatched_confirmation_is_asked_again(db: str) -> None:
    result = run(
        "users",
        "add",
        "a@example.org",
        input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output


def test_short_password_and_duplicate_are_one_line_errors(db: str) -> None:
    result = run("users", "add", "a@example.org", input="short\nshort\n")
    assert result.exit_code == 1
    assert "error: a password needs at least 12 characters" in result.output
    assert run("users", "add", "a@example.org", input=f"{PASSWORD}\n{PASSWORD}\n").exit_code == 0
    again = run("users", "add", "A@example.org", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert again.exit_code == 1
    assert "already a staff account" in again.output


def test_list(db: str) -> None:
    assert "No staff accounts yet" in run("users", "list").stdout
    run("users", "add", "b@example.org", input=f"{PASSWORD}\n{PASSWORD}\n")
    run("users", "add", "a@example.org", input=f"{PASSWORD}\n{PASSWORD}\n")
    lines = run("users", "list").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["a@example.org", "b@example.org"]
    assert "last login: never" in lines[0]
