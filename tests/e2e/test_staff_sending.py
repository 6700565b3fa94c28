"""A send from the staff area in chromium, to a 50-subscriber list through the capture
server: the campaign page follows it to the end without reloading, and its counts match
the inbox.

The module's site (conftest.py) provides the store; the staff area under test is a second
app on that store, sending to this test's own capture server (`dev_smtp`), so the inbox
holds this send and nothing else.
"""

from __future__ import annotations

import itertools
import re
import time

import pytest
from playwright.sync_api import Page, expect

from newsletter.core.settings import Settings, get_settings
from newsletter.devsmtp.server import DevSmtpServer
from newsletter.store.lists import create_list
from newsletter.store.models import MembershipStatus
from newsletter.store.staff import add_user
from newsletter.store.subscriptions import subscribe
from newsletter.web import create_app
from newsletter.web.staff.senders import senders
from tests.browser import dev_smtp, live_server  # noqa: F401
from tests.conftest import ROOT
from tests.e2e.site import LateApp, Site
from tests.e2e.test_staff import PASSWORD, RECORD, log_in
from tests.store.databases import session_scope

_numbers = itertools.count()


def test_a_send_to_50_shows_progress_to_the_end(
    page: Page,
    site: Site,
    dev_smtp: DevSmtpServer,  # noqa: F811 (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    email = f"sender{next(_numbers)}@example.org"
    with session_scope(write=True) as session:
        add_user(session, email, PASSWORD)
    list_id, eligible = _readers(50)
    monkeypatch.setenv("NEWSLETTER_SMTP_URL", dev_smtp.smtp_url)
    monkeypatch.setenv("NEWSLETTER_RECORDS_DIR", str(ROOT / "examples"))
    # Twenty a second, in batches of 40: the page has progress to show before the end.
    monkeypatch.setenv("NEWSLETTER_RATE_LIMIT", "20")
    late = LateApp()
    try:
        with live_server(late) as url:
            monkeypatch.setenv("NEWSLETTER_PUBLIC_URL", url)
            get_settings.cache_clear()
            late.app = create_app(Settings())
            # Where the preview's "Send to a list…" leads (the preview itself takes a
            # while, with its spam check).
            page.goto(f"{url}/staff/send?record={RECORD}")
            log_in(page, email)
            page.get_by_label("List to send to").select_option(str(list_id))
            page.get_by_role("button", name="Next").click()
            expect(page.locator("#recipient-count")).to_have_text("50")
            page.get_by_role("button", name="Send to 50 recipients").click()
            expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Campaign \d+"))
            # Gone after a reload: proof that the figures below came without one.
            page.evaluate("window.stillThisPage = true")
            seen = _sent_counts_until_done(page)
            assert page.evaluate("window.stillThisPage") is True
            assert any(0 < count < 50 for count in seen), f"no progress shown: {seen}"
            cells = {
                name: page.locator(f'#progress [data-field="{name}"]').inner_text()
                for name in ("total", "sent", "failed", "skipped", "left")
            }
            assert cells == {
                "total": "50",
                "sent": "50",
                "failed": "0",
                "skipped": "0",
                "left": "0",
            }
            assert page.locator("#bar").evaluate("bar => bar.value") == 50
            expect(page.get_by_role("button", name="Pause")).to_be_hidden()
            expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
            delivered = sorted(r for m in dev_smtp.store for r in m.envelope_to)
            assert delivered == sorted(eligible)
            assert len(dev_smtp.store) == int(cells["sent"])
    finally:
        senders.join(timeout=30)


def _readers(count: int) -> tuple[int, list[str]]:
    """A new list of `count` eligible readers, and one who has not confirmed yet."""
    number = next(_numbers)
    eligible = [f"reader{i}.{number}@example.com" for i in range(count)]
    with session_scope(write=True) as session:
        list_id = create_list(session, f"readers{number}").id
        for address in eligible:
            subscribe(session, list_id, address, source="test")
        subscribe(
            session,
            list_id,
            f"waiting.{number}@example.com",
            source="test",
            status=MembershipStatus.UNCONFIRMED,
        )
    return list_id, eligible


def _sent_counts_until_done(page: Page, timeout: float = 30.0) -> list[int]:
    """The page's "sent" figure, read every 100 ms until its status says done."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    status = page.locator("#status")
    sent = page.locator('#progress [data-field="sent"]')
    while status.inner_text() != "done":
        assert time.monotonic() < deadline, f"not done after {timeout} s: {status.inner_text()}"
        seen.append(int(sent.inner_text()))
        time.sleep(0.1)
    return seen
