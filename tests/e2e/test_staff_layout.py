"""The staff pages' layout in chromium: nothing scrolls sideways on a 390 px phone, the
column stays readable on a wide screen, and progress is drawn in the brand's colour.

Runs on the module's site (conftest.py), whose campaign has gone out already.
"""

from __future__ import annotations

import io
import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from newsletter.core.settings import Brand
from newsletter.store.models import Subscriber
from newsletter.store.staff import add_user
from tests.browser import PHONE
from tests.conftest import ROOT
from tests.e2e.site import Site
from tests.store.databases import session_scope

PASSWORD = "a long staff password"
RECORD = "dir:khojaly-seminar-2022/record.yaml"
_numbers = itertools.count()


def _pages(site: Site) -> list[str]:
    return [
        "/staff/",
        "/staff/preview",
        f"/staff/preview?record={RECORD}",
        f"/staff/send?record={RECORD}",
        f"/staff/send?record={RECORD}&list={site.audience.id}",
        "/staff/campaigns",
        f"/staff/campaigns/{site.campaign_id}",
        "/staff/lists",
        "/staff/lists/new",
        f"/staff/lists/{site.audience.id}",
        "/staff/subscribers",
        f"/staff/subscribers/{_subscriber_id(site.audience.eligible[0])}",
        "/staff/issues",
        "/staff/issues/new",
        "/staff/no-such-page",
    ]


def _subscriber_id(email: str) -> int:
    with session_scope() as session:
        found = session.scalar(select(Subscriber.id).where(Subscriber.email_key == email))
        assert found is not None, email
        return found


@pytest.fixture
def phone(browser: Browser, site: Site) -> Iterator[Page]:
    """A phone-sized page, logged in as a new staff account."""
    shutil.copytree(ROOT / "examples", Path.cwd() / "examples")
    email = f"layout{next(_numbers)}@example.org"
    with session_scope(write=True) as session:
        add_user(session, email, PASSWORD)
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        page.goto(f"{site.public_url}/staff/login")
        _assert_fits(page, "/staff/login")
        page.get_by_label("Email address").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        yield page
    finally:
        context.close()


def _assert_fits(page: Page, path: str) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"{path} is {width} px wide at {PHONE['width']} px"


def test_no_staff_page_scrolls_sideways_on_a_phone(phone: Page, site: Site) -> None:
    for path in _pages(site):
        phone.goto(f"{site.public_url}{path}")
        expect(phone.get_by_role("heading", level=1)).to_be_visible()
        _assert_fits(phone, path)
    # The page a test message leads to, from the preview's form.
    phone.goto(f"{site.public_url}/staff/preview?record={RECORD}")
    phone.get_by_label("Send a test to").fill("layout-test@example.org")
    phone.get_by_role("button", name="Send test").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Test message sent")
    _assert_fits(phone, "the test message's page")


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _filled_colour(page: Page, selector: str) -> tuple[int, int, int]:
    shot = page.locator(selector).first.screenshot()
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    pixel = image.getpixel((image.width // 2, image.height // 2))
    assert isinstance(pixel, tuple)
    return pixel[0], pixel[1], pixel[2]


def _near(one: tuple[int, int, int], other: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 8 for a, b in zip(one, other, strict=True))


def test_progress_is_in_the_brand_colour_and_a_finished_campaign_says_when(
    phone: Page, site: Site
) -> None:
    brand = _rgb(Brand().primary_colour)
    phone.goto(f"{site.public_url}/staff/campaigns/{site.campaign_id}")
    finished = phone.locator("#finished")
    expect(finished).to_be_visible()
    expect(finished).to_contain_text("UTC; took ")
    # Done: the bar is full, all of it the brand's colour.
    assert _near(_filled_colour(phone, "#bar"), brand)
    phone.goto(f"{site.public_url}/staff/")
    expect(phone.locator(f"#recent-{site.campaign_id}")).to_contain_text("took ")
    assert _near(_filled_colour(phone, f"#recent-{site.campaign_id} progress"), brand)


def test_a_wide_screen_keeps_a_readable_column(phone: Page, site: Site) -> None:
    phone.set_viewport_size({"width": 1920, "height": 1000})
    phone.goto(f"{site.public_url}/staff/")
    main = phone.locator("main").bounding_box()
    assert main is not None and main["width"] <= 80 * 16
    paragraph = phone.locator("main p").first.bounding_box()
    assert paragraph is not None and paragraph["width"] <= 48 * 16
