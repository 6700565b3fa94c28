from __future__ import annotations

import subprocess
import sys

import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.store import staff
from newsletter.store.staff import StaffUser
from tests.store.databases import session_scope

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    # argon2id still, with the least work: the default takes 0.25 s a hash here.
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=8192))


def run(*args: str, input: str = "") -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def account(email: str = "comms@example.org") -> StaffUser:
    with session_scope() as session:
        user = session.query(StaffUser).filter_by(email_key=email).one()
        session.expunge(user)
        return user


def password_is(email: str, password: str) -> bool:
    try:
        return staff._hasher.verify(account(email).password_hash, password)
    except VerificationError:
        return False


def test_add_asks_twice_and_stores_an_argon2_hash(db: str) -> None:
    result = run("users", "add", "Comms@Example.org", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "created staff account Comms@example.org" in result.stdout
    assert PASSWORD not in result.output
    with session_scope(write=True) as session:
        user = session.query(StaffUser).one()
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
    assert password_is("comms@example.org", PASSWORD)
    assert not password_is("comms@example.org", "wrong password!")


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


NEW = "an entirely new password"


def test_passwd_asks_twice_changes_the_hash_and_ends_sessions(db: str) -> None:
    run("users", "add", "comms@example.org", input=f"{PASSWORD}\n{PASSWORD}\n")
    result = run(
        "users", "passwd", "Comms@example.org", input=f"{NEW}\nsomething else\n{NEW}\n{NEW}\n"
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    assert "changed the password of comms@example.org; its sessions have ended" in result.stdout
    assert NEW not in result.output
    assert password_is("comms@example.org", NEW)
    assert not password_is("comms@example.org", PASSWORD)
    assert account().session_generation == 1


def test_passwd_keeps_the_length_rule_and_the_old_password(db: str) -> None:
    run("users", "add", "comms@example.org", input=f"{PASSWORD}\n{PASSWORD}\n")
    result = run("users", "passwd", "comms@example.org", input="short\nshort\n")
    assert result.exit_code == 1
    assert "error: a password needs at least 12 characters" in result.output
    assert password_is("comms@example.org", PASSWORD)
    assert account().session_generation == 0


def test_disable_and_enable(db: str) -> None:
    run("users", "add", "comms@example.org", input=f"{PASSWORD}\n{PASSWORD}\n")
    disabled = run("users", "disable", "comms@example.org")
    assert disabled.exit_code == 0, disabled.output
    assert "disabled staff account comms@example.org; its sessions have ended" in disabled.stdout
    assert not account().active
    assert account().session_generation == 1
    assert "comms@example.org (disabled)" in run("users", "list").stdout
    enabled = run("users", "enable", "comms@example.org")
    assert enabled.exit_code == 0, enabled.output
    assert account().active
    assert "(disabled)" not in run("users", "list").stdout


@pytest.mark.parametrize("command", ["passwd", "disable", "enable"])
def test_unknown_account_is_a_one_line_error(db: str, command: str) -> None:
    # passwd fails before it asks for a password: no input is given.
    result = run("users", command, "nobody@example.org")
    assert result.exit_code == 1
    assert "error: there is no staff account for nobody@example.org" in result.output


def test_password_stdin_reads_one_line_without_asking(db: str) -> None:
    result = run("users", "add", "comms@example.org", "--password-stdin", input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "created staff account comms@example.org" in result.stdout
    assert "Password" not in result.output
    assert password_is("comms@example.org", PASSWORD)
    # The same for a new password, and a line ending in \r\n loses both characters.
    changed = run("users", "passwd", "comms@example.org", "--password-stdin", input=f"{NEW}\r\n")
    assert changed.exit_code == 0, changed.output
    assert password_is("comms@example.org", NEW)


def test_password_stdin_keeps_the_length_rule_and_needs_a_line(db: str) -> None:
    short = run("users", "add", "a@example.org", "--password-stdin", input="short\n")
    assert short.exit_code == 1
    assert "error: a password needs at least 12 characters" in short.output
    empty = run("users", "add", "a@example.org", "--password-stdin", input="")
    assert empty.exit_code == 1
    assert "error: no password on standard input" in empty.output
    assert "No staff accounts yet" in run("users", "list").stdout


@pytest.mark.parametrize("command", ["add", "passwd"])
def test_help_states_the_length_rule_and_password_stdin(command: str) -> None:
    result = run("users", command, "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "A password needs at least 12 characters." in text
    assert "--password-stdin" in text


def _piped(*args: str, input: str) -> subprocess.CompletedProcess[str]:
    # A new session has no controlling terminal, as under cron, CI or `ssh host cmd`:
    # getpass would then warn "Can not control echo" and read the pipe anyway.
    return subprocess.run(
        [sys.executable, "-c", "from newsletter.cli import main; main()", "users", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,
        check=False,
    )


def test_a_pipe_without_a_terminal_gets_no_echo_warning(db: str) -> None:
    asked = _piped("add", "a@example.org", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert asked.returncode == 0, asked.stderr
    assert "created staff account a@example.org" in asked.stdout
    assert "Password: Repeat for confirmation: " in asked.stderr
    piped = _piped("add", "b@example.org", "--password-stdin", input=f"{PASSWORD}\n")
    assert piped.returncode == 0, piped.stderr
    changed = _piped("passwd", "b@example.org", input=f"{NEW}\n{NEW}\n")
    assert changed.returncode == 0, changed.stderr
    for done in (asked, piped, changed):
        assert "GetPassWarning" not in done.stderr
        assert "echo" not in done.stderr.lower()
        assert PASSWORD not in done.stdout + done.stderr
    assert password_is("a@example.org", PASSWORD)
    assert password_is("b@example.org", NEW)
