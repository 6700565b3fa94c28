"""The issue editor in chromium: typing updates the preview, rows are added and reordered,
a photo chosen from disk shows in the preview before saving, and saving keeps them in the
order shown."""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import Page, expect

from newsletter.store.staff import add_user
from tests.conftest import EXAMPLE
from tests.e2e.site import Site
from tests.store.databases import session_scope

PASSWORD = "a long staff password"
_numbers = itertools.count()


@pytest.fixture
def account() -> str:
    email = f"editor{next(_numbers)}@example.org"
    with session_scope(write=True) as session:
        add_user(session, email, PASSWORD)
    return email


def _speaker(page: Page, index: int, name: str, role: str, remarks: str) -> None:
    page.locator(f'[name="speakers-{index}-name"]').fill(name)
    page.locator(f'[name="speakers-{index}-role"]').fill(role)
    page.locator(f'[name="speakers-{index}-remarks"]').fill(remarks)


def test_type_see_the_preview_reorder_and_save(page: Page, site: Site, account: str) -> None:
    page.goto(f"{site.public_url}/staff/issues/new")
    page.get_by_label("Email address").fill(account)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New issue")

    page.locator('[name="title"]').fill("Water and Peace")
    page.locator('[name="date"]').fill("2024-03-01")
    page.locator('[name="organiser"]').fill("MUSLIM Institute")
    # Not yet complete: the preview names what is missing, next to its field.
    expect(page.locator("#error-summary")).to_have_text("Required.")
    page.locator('[name="summary"]').fill("A seminar on **water**.")
    expect(page.locator("#error-summary")).to_be_hidden()
    desktop = page.frame_locator("iframe.view-desktop")
    expect(desktop.locator("body")).to_contain_text("Water and Peace")

    page.get_by_role("button", name="Add a speaker").click()
    _speaker(page, 0, "Ada Khan", "Chair", "Welcome, all.")
    page.get_by_role("button", name="Add a speaker").click()
    _speaker(page, 1, "Omar Ali", "Keynote speaker", "Water is peace.")
    expect(desktop.locator("body")).to_contain_text("Omar Ali")
    # Omar first: the rows are renumbered as they move.
    page.get_by_role("button", name="Move this speaker up").nth(1).click()
    expect(page.locator('[name="speakers-0-name"]')).to_have_value("Omar Ali")

    page.get_by_role("button", name="Text").click()
    expect(page.locator("#preview-text")).to_contain_text("Water is peace.")
    page.get_by_role("button", name="Dark").click()
    expect(page.locator("iframe.view-dark")).to_be_visible()

    photo = sorted((EXAMPLE.parent / "photos").iterdir())[0]
    shown_photo = desktop.locator('img[alt="Ada Khan"]')
    expect(shown_photo).to_have_count(0)
    page.locator('[name="speakers-1-photo_file"]').set_input_files(photo)
    # In the preview before any save: prepared by the server, carried as a data: URL.
    expect(shown_photo).to_have_attribute("src", re.compile(r"^data:image/(jpeg|png);base64,"))
    prepared = page.locator('input[type="hidden"][name="speakers-1-photo"]')
    expect(prepared).to_have_value(re.compile(r"^speaker-ada-khan-[0-9a-f]{10}\.(jpg|png)$"))
    # Whether each preview posted since carried a file (Chromium does not show a body
    # with files to Playwright's request events).
    page.evaluate(
        """() => {
          window.previewFiles = [];
          const send = window.fetch;
          window.fetch = (url, options) => {
            const body = options && options.body;
            if (body instanceof FormData) {
              window.previewFiles.push([...body.values()].some((v) => v instanceof File));
            }
            return send(url, options);
          };
        }"""
    )
    page.locator('[name="title"]').fill("Water and Peace in 2024")
    expect(desktop.locator("body")).to_contain_text("Water and Peace in 2024")
    # Later previews keep the photo without sending the file again.
    expect(shown_photo).to_have_count(1)
    carried_files = page.evaluate("window.previewFiles")
    assert carried_files and not any(carried_files)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#notice")).to_have_text("Saved as version 1.")
    expect(page.locator('[name="speakers-0-name"]')).to_have_value("Omar Ali")
    expect(page.locator('[name="speakers-1-name"]')).to_have_value("Ada Khan")
    expect(page.get_by_role("img", name="The current photo of Ada Khan")).to_be_visible()
    expect(page.frame_locator("iframe.view-desktop").locator("body")).to_contain_text(
        "Water and Peace in 2024"
    )
