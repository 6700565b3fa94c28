"""Issue 9, item 3: logout, a new password and disabling an account end every session.

A staff cookie copied before (from a shared machine, a proxy log, a stolen backup) used to
keep working for its whole 12 hours after logout. Each account now has a session
generation, carried in the signed cookie and compared on every request.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from typer.testing import CliRunner, Result

from newsletter.cli import app as cli
from newsletter.core.settings import Settings, get_settings
from newsletter.store import staff
from newsletter.web import create_app
from newsletter.web.staff import session as cookies
from tests.conftest import ROOT
from tests.web.staff.helpers import EMAIL, PASSWORD, browser, csrf_of, login, new_user

OTHER = "editor@example.org"
NEW_PASSWORD = "an entirely new password"


@pytest.fixture(autouse=True)
def _staff_area(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_RECORDS_DIR", str(ROOT / "examples"))
    get_settings.cache_clear()
    # argon2id still, with the least work: the default takes 0.25 s a login here.
    monkeypatch.setattr(staff, "_hasher", PasswordHasher(time_cost=1, memory_cost=8192))


@pytest.fixture
def web(db: str) -> Iterator[FastAPI]:
    new_user()
    new_user(OTHER)
    yield create_app(Settings())


def logged_in_cookie(web: FastAPI, email: str = EMAIL, password: str = PASSWORD) -> str:
    """The session cookie of a fresh login, as an attacker would copy it."""
    with browser(web) as client:
        assert login(client, email, password).status_code == 303
        return client.cookies[cookies.COOKIE]


def works(web: FastAPI, cookie: str) -> bool:
    with browser(web, "198.51.100.66") as client:
        client.cookies.set(cookies.COOKIE, cookie)
        response = client.get("/staff/")
        assert response.status_code in (200, 303), response.text
        return response.status_code == 200


def users(*args: str, input: str = "") -> Result:
    result = CliRunner().invoke(cli, ["users", *args], input=input)
    assert result.exit_code == 0, result.output
    return result


def test_a_cookie_copied_before_logout_is_refused_after_it(web: FastAPI) -> None:
    with browser(web) as client:
        assert login(client).status_code == 303
        copied = client.cookies[cookies.COOKIE]
        assert works(web, copied)
        token = csrf_of(client.get("/staff/").text)
        assert client.post("/staff/logout", data={"csrf": token}).status_code == 303
    assert not works(web, copied)


def test_logout_ends_every_session_of_the_account(web: FastAPI) -> None:
    elsewhere = logged_in_cookie(web)
    test_a_cookie_copied_before_logout_is_refused_after_it(web)
    assert not works(web, elsewhere)
    # A new login works again, with a cookie of the new generation.
    assert works(web, logged_in_cookie(web))


def test_a_new_password_ends_every_session(web: FastAPI) -> None:
    copied = logged_in_cookie(web)
    users("passwd", EMAIL, input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert not works(web, copied)
    with browser(web) as client:
        assert login(client).status_code == 401
        assert login(client, password=NEW_PASSWORD).status_code == 303


def test_disabling_ends_every_session_and_refuses_logins(web: FastAPI) -> None:
    copied = logged_in_cookie(web)
    users("disable", EMAIL)
    assert not works(web, copied)
    with browser(web) as client:
        refused = login(client)
        # The same answer as a wrong password: nothing tells that the account exists.
        assert refused.status_code == 401
        assert "The email address or the password is wrong." in refused.text
    users("enable", EMAIL)
    assert not works(web, copied)
    assert works(web, logged_in_cookie(web))


def test_other_accounts_keep_their_sessions(web: FastAPI) -> None:
    others = logged_in_cookie(web, OTHER)
    test_a_cookie_copied_before_logout_is_refused_after_it(web)
    users("passwd", EMAIL, input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    users("disable", EMAIL)
    assert works(web, others)


def test_a_cookie_of_the_old_format_is_refused(web: FastAPI) -> None:
    """A cookie signed before the generation existed (four fields, the v1 domain) does not
    pass for a session of generation 0."""
    cookie = logged_in_cookie(web)
    found = cookies.decode(get_settings().signing_key(), cookie)
    assert found is not None and found.generation == 0
    old_domain = b"newsletter-staff-session/v1\x00"
    body = f'[{found.user_id},"{found.nonce}",{found.expires},"{found.fingerprint}"]'.encode()
    mac = cookies._mac(get_settings().signing_key(), old_domain, body)
    assert not works(web, f"{cookies._b64(body)}.{cookies._b64(mac)}")
