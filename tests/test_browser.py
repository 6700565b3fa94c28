"""The browser plumbing of tests/browser.py."""

from __future__ import annotations

import pytest

from tests.browser import CHROMIUM, shared_chromium


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing")
def test_every_browser_fixture_of_a_run_gets_the_same_working_chromium() -> None:
    # What two folders' `browser` fixtures do in one run: the second starts while the
    # first is in use (Playwright's sync API cannot be started twice in one thread).
    with shared_chromium.use() as first, shared_chromium.use() as second:
        assert second is first
        page = second.new_page()
        try:
            page.set_content("<h1>Ready</h1>")
            assert page.inner_text("h1") == "Ready"
        finally:
            page.close()
    # Still usable afterwards by a later user.
    with shared_chromium.use() as again:
        assert again.is_connected()
