"""Logging in to the staff area in tests, and reading its pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response

from newsletter.store.staff import add_user
from newsletter.store.types import utcnow
from newsletter.web.staff.senders import senders
from tests.store.databases import session_scope

EMAIL = "comms@example.org"
PASSWORD = "a long staff password"
CLIENT_IP = "203.0.113.9"

# Every page and endpoint of the staff area but the login page.
GET_ROUTES = [
    "/staff/",
    "/staff/preview",
    "/staff/preview?record=dir:khojaly-seminar-2022/record.yaml",
    "/staff/preview/email?record=dir:khojaly-seminar-2022/record.yaml",
    "/staff/preview/version?record=dir:khojaly-seminar-2022/record.yaml",
    "/staff/campaigns",
    "/staff/lists",
    "/staff/lists/1/export.csv",
    "/staff/issues",
    "/staff/issues/new",
    "/staff/issues/1",
    "/staff/issues/1/versions",
    "/staff/issues/1/export.zip",
    "/staff/issues/1/record.yaml",
    "/staff/issues/1/photos/a.jpg",
    "/staff/issues/preview/email?key=k",
    "/staff/lists/new",
    "/staff/lists/1",
    "/staff/subscribers",
    "/staff/subscribers/1",
    "/staff/subscribers/1/erase",
]
POST_ROUTES = [
    "/staff/logout",
    "/staff/preview/upload",
    "/staff/lists/1/import",
    "/staff/issues/new",
    "/staff/issues/1",
    "/staff/issues/preview",
    "/staff/issues/import",
    "/staff/issues/1/duplicate",
    "/staff/issues/1/delete",
    "/staff/issues/1/versions/1/restore",
    "/staff/lists/new",
    "/staff/lists/1",
    "/staff/subscribers/new",
    "/staff/subscribers/1/edit",
    "/staff/subscribers/1/email",
    "/staff/subscribers/1/lists",
    "/staff/subscribers/1/unsubscribe",
    "/staff/subscribers/1/erase",
]


@dataclass
class Clock:
    """The app's `now` (`create_app(clock=…)`): tests move it on instead of sleeping."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def browser(app: FastAPI, ip: str = CLIENT_IP) -> TestClient:
    """A client of `app` from address `ip` that keeps its cookies; use it in a `with`."""
    return TestClient(app, client=(ip, 50000), follow_redirects=False)


@contextmanager
def sending_browser(app: FastAPI) -> Iterator[TestClient]:
    """`browser(app)` for an app that sends campaigns: on the way out it waits for their
    threads, since none may outlive its test's database."""
    try:
        with browser(app) as client:
            yield client
    finally:
        senders.join(timeout=30)


def new_user(email: str = EMAIL, password: str = PASSWORD) -> int:
    with session_scope(write=True) as session:
        return add_user(session, email, password).id


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None, "no CSRF token in the page"
    return match.group(1)


def login(client: TestClient, email: str = EMAIL, password: str = PASSWORD) -> Response:
    page = client.get("/staff/login")
    return client.post(
        "/staff/login",
        data={"csrf": csrf_of(page.text), "email": email, "password": password, "next": ""},
    )


def logged_in(client: TestClient) -> str:
    """Log in as a new account; the CSRF token of the session."""
    new_user()
    response = login(client)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/staff/").text)
