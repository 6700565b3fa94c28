from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from newsletter.core.settings import Settings, get_settings
from newsletter.store.staff import StaffUser, hash_password
from newsletter.web import create_app
from newsletter.web.staff import session as cookies
from tests.store.databases import session_scope
from tests.web.staff.helpers import (
    CLIENT_IP,
    EMAIL,
    GET_ROUTES,
    PASSWORD,
    POST_ROUTES,
    Clock,
    browser,
    csrf_of,
    logged_in,
    login,
    new_user,
)


@pytest.mark.parametrize("path", GET_ROUTES)
def test_every_page_redirects_to_login(sqlite_client: TestClient, path: str) -> None:
    response = sqlite_client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login?next=%2Fstaff%2F")


@pytest.mark.parametrize("path", POST_ROUTES)
def test_every_form_target_redirects_to_login(sqlite_client: TestClient, path: str) -> None:
    response = sqlite_client.post(path, data={"csrf": "x"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login")


def test_login_then_back_to_the_page_asked_for(staff_client: TestClient) -> None:
    new_user()
    first = staff_client.get("/staff/lists")
    page = staff_client.get(first.headers["location"])
    assert page.status_code == 200
    assert 'name="next" value="/staff/lists"' in page.text
    response = staff_client.post(
        "/staff/login",
        data={
            "csrf": csrf_of(page.text),
            "email": EMAIL,
            "password": PASSWORD,
            "next": "/staff/lists",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/lists"
    assert staff_client.get("/staff/lists").status_code == 200
    with session_scope() as session:
        user = session.query(StaffUser).one()
        assert user.last_login_at is not None


def test_session_cookie_is_signed_httponly_and_lax(staff_client: TestClient) -> None:
    new_user()
    response = login(staff_client)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{cookies.COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()
    assert "Path=/staff/" in cookie
    # The public URL is http here; the cookie must still reach the server.
    assert "Secure" not in cookie


def test_cookie_is_secure_under_https(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", "https://news.example.org")
    get_settings.cache_clear()
    app = create_app(Settings())
    with TestClient(app, base_url="https://news.example.org") as client:
        assert "Secure" in client.get("/staff/login").headers["set-cookie"]


def test_open_redirect_is_refused(staff_client: TestClient) -> None:
    new_user()
    for target in ("https://evil.example/", "//evil.example/staff/", "/issues/"):
        # A new form each time: a login replaces the session and with it the token.
        page = staff_client.get("/staff/login")
        response = staff_client.post(
            "/staff/login",
            data={"csrf": csrf_of(page.text), "email": EMAIL, "password": PASSWORD, "next": target},
        )
        assert response.headers["location"] == "/staff/"


def test_wrong_password_and_unknown_account_get_the_same_answer(
    staff_client: TestClient,
) -> None:
    new_user()
    wrong = login(staff_client, password="not the password")
    unknown = login(staff_client, email="nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401
    assert "The email address or the password is wrong." in wrong.text
    assert wrong.text.replace(EMAIL, "X") == unknown.text.replace("nobody@example.org", "X")
    assert staff_client.get("/staff/").status_code == 303


def test_login_without_csrf_is_refused(staff_client: TestClient) -> None:
    new_user()
    staff_client.get("/staff/login")
    response = staff_client.post("/staff/login", data={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 403
    assert staff_client.get("/staff/").status_code == 303


def test_login_without_a_session_cookie_is_refused(staff_client: TestClient) -> None:
    new_user()
    token = csrf_of(staff_client.get("/staff/login").text)
    staff_client.cookies.clear()
    response = staff_client.post(
        "/staff/login", data={"csrf": token, "email": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("path", POST_ROUTES)
def test_forms_without_csrf_are_refused(staff_client: TestClient, path: str) -> None:
    logged_in(staff_client)
    response = staff_client.post(path, data={"anything": "1"})
    assert response.status_code == 403
    forged = staff_client.post(path, data={"csrf": "forged-token"})
    assert forged.status_code == 403
    # Still logged in: the refused logout changed nothing.
    assert staff_client.get("/staff/").status_code == 200


def test_csrf_token_of_before_login_does_not_work_after(staff_client: TestClient) -> None:
    new_user()
    before = csrf_of(staff_client.get("/staff/login").text)
    login(staff_client)
    assert staff_client.post("/staff/logout", data={"csrf": before}).status_code == 403


def test_logout(staff_client: TestClient) -> None:
    token = logged_in(staff_client)
    response = staff_client.post("/staff/logout", data={"csrf": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/login"
    assert staff_client.get("/staff/").status_code == 303


def test_tampered_cookie_is_not_a_login(staff_client: TestClient) -> None:
    logged_in(staff_client)
    value = staff_client.cookies[cookies.COOKIE]
    body, _, mac = value.partition(".")
    staff_client.cookies.clear()
    staff_client.cookies.set(cookies.COOKIE, f"{body}.{mac[:-2]}AA")
    assert staff_client.get("/staff/").status_code == 303
    staff_client.cookies.clear()
    staff_client.cookies.set(cookies.COOKIE, value)
    assert staff_client.get("/staff/").status_code == 200
    staff_client.cookies.clear()
    staff_client.cookies.set(cookies.COOKIE, f"{body[:-2]}AA.{mac}")
    assert staff_client.get("/staff/").status_code == 303


def test_changing_the_password_ends_sessions(staff_client: TestClient) -> None:
    logged_in(staff_client)
    with session_scope(write=True) as session:
        session.query(StaffUser).one().password_hash = hash_password("another long password")
    assert staff_client.get("/staff/").status_code == 303


def test_failures_per_account_and_address_delay_the_next_try(db: str, records_dir: None) -> None:
    new_user()
    clock = Clock()
    with browser(create_app(Settings(), clock=clock)) as client:
        for _ in range(5):
            assert login(client, password="wrong password").status_code == 401
        limited = login(client)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "1"
        assert "Please try again in 1 second." in limited.text
        assert client.get("/staff/").status_code == 303
        clock.advance(1)
        assert login(client).status_code == 303


def test_rate_limit_per_ip(db: str, records_dir: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_STAFF_LOGIN_ATTEMPTS_PER_IP", "3")
    get_settings.cache_clear()
    new_user()
    app = create_app(Settings())
    with TestClient(app, client=(CLIENT_IP, 1), follow_redirects=False) as client:
        for number in range(3):
            assert login(client, email=f"guess{number}@example.org").status_code == 401
        assert login(client).status_code == 429
    with TestClient(app, client=("198.51.100.1", 1), follow_redirects=False) as other:
        assert login(other).status_code == 303


def test_success_clears_the_account_failures(staff_client: TestClient) -> None:
    new_user()
    for _ in range(4):
        login(staff_client, password="wrong password")
    assert login(staff_client).status_code == 303
    for _ in range(4):
        assert login(staff_client, password="wrong password").status_code == 401
    assert login(staff_client).status_code == 303


def test_staff_pages_have_their_own_headers(staff_client: TestClient) -> None:
    logged_in(staff_client)
    response = staff_client.get("/staff/")
    assert response.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert "Log out" in response.text
    assert EMAIL in response.text


def test_unknown_staff_page_is_404_after_login_only(staff_client: TestClient) -> None:
    assert staff_client.get("/staff/nothing").status_code == 404
    logged_in(staff_client)
    assert staff_client.get("/staff/nothing").status_code == 404
