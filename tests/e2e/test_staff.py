"""The staff area in chromium: login in front of every page, CSRF, the preview's frames.

Runs on the module's site (conftest.py): its live server mounts the staff area. Records
are read from NEWSLETTER_RECORDS_DIR, `examples` in the working directory by default,
which for each test is its own folder: the example is copied there.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from urllib.parse import unquote

import pytest
from playwright.sync_api import Page, expect

from newsletter.store.staff import add_user
from tests.conftest import ROOT
from tests.e2e.site import Site
from tests.store.databases import session_scope

PASSWORD = "a long staff password"
RECORD = "dir:khojaly-seminar-2022/record.yaml"
PAGES = [
    "/staff/",
    "/staff/preview",
    f"/staff/preview?record={RECORD}",
    "/staff/campaigns",
    "/staff/lists",
]
_numbers = itertools.count()


@pytest.fixture
def account() -> str:
    """A new staff account in the site's store (the store outlives each test)."""
    email = f"staff{next(_numbers)}@example.org"
    with session_scope(write=True) as session:
        add_user(session, email, PASSWORD)
    return email


def log_in(page: Page, email: str) -> None:
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.parametrize("path", PAGES)
def test_login_is_required_on_every_page(page: Page, site: Site, account: str, path: str) -> None:
    shutil.copytree(ROOT / "examples", Path.cwd() / "examples")
    page.goto(f"{site.public_url}{path}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff login")
    assert "/staff/login?next=" in page.url
    log_in(page, account)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # Back on the page asked for.
    assert unquote(page.url) == f"{site.public_url}{path}"


def test_a_form_without_its_csrf_token_is_refused(page: Page, site: Site, account: str) -> None:
    page.goto(f"{site.public_url}/staff/login")
    log_in(page, account)
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff area")
    # As a forged form would come: everything but the token.
    page.locator('form[action="/staff/logout"] input[name="csrf"]').evaluate("e => e.remove()")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Refused")
    # The refused logout changed nothing: still logged in.
    page.goto(f"{site.public_url}/staff/lists")
    expect(page.get_by_role("heading", level=1)).to_have_text("Lists")
    # With its token the same form works.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Staff login")


def test_preview_shows_both_widths(page: Page, site: Site, account: str) -> None:
    shutil.copytree(ROOT / "examples", Path.cwd() / "examples")
    page.goto(f"{site.public_url}/staff/preview")
    log_in(page, account)
    page.get_by_label("Record from").select_option(RECORD)
    page.get_by_role("button", name="Show", exact=True).click()
    desktop = page.locator('iframe[title="The email at desktop width"]')
    phone = page.locator('iframe[title="The email at phone width"]')
    expect(desktop).to_be_visible()
    expect(phone).to_be_visible()
    for title in ("desktop width", "phone width", "in dark mode"):
        frame = page.frame_locator(
            f'iframe[title="The email {"at " if "width" in title else ""}{title}"]'
        )
        expect(frame.get_by_text("A Crime against Humanity").first).to_be_visible()
    desktop_box = desktop.bounding_box()
    phone_box = phone.bounding_box()
    assert desktop_box is not None and phone_box is not None
    # Side by side, at their widths (plus a 1 px border each side).
    assert desktop_box["width"] == pytest.approx(802, abs=1)
    assert phone_box["width"] == pytest.approx(392, abs=1)
    assert phone_box["x"] > desktop_box["x"] + desktop_box["width"] - 1
    assert phone_box["y"] == pytest.approx(desktop_box["y"], abs=40)
    # The email lays itself out for the width it is given.
    widths = [
        frame.evaluate("() => document.documentElement.clientWidth")
        for frame in page.frames
        if "/staff/preview/email" in frame.url and "mode=dark" not in frame.url
    ]
    assert sorted(widths) == [390, 800]
