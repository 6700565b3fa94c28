"""The inbox in chromium: a real dev-smtp (SMTP and HTTP), a real message, real clicks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.sync_api import Browser, Page, expect

from newsletter.devsmtp.server import DevSmtpServer
from tests.browser import PHONE, live_server, send_mail
from tests.devsmtp.messages import build

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def landing() -> Iterator[str]:
    """A stand-in for the public web side: the pages the message links to."""
    app = FastAPI()

    @app.get("/u/{token}", response_class=HTMLResponse)
    def unsubscribe(token: str) -> str:
        return f"<!DOCTYPE html><title>Unsubscribe</title><h1>Unsubscribe {token}?</h1>"

    @app.get("/web", response_class=HTMLResponse)
    def web_version() -> str:
        return "<!DOCTYPE html><title>Web version</title><h1>The web version</h1>"

    with live_server(app) as url:
        yield url


def newsletter(landing: str) -> bytes:
    html = f"""<!DOCTYPE html>
<html><head><title>Issue</title></head>
<body>
<h1>Seminar on Genocide and Ethnic cleansing</h1>
<p id="scripted">Scripts never run here.</p>
<script>document.getElementById("scripted").textContent = "a script ran";</script>
<p><a href="{landing}/web" target="_blank">Webversion</a></p>
<p><a href="{landing}/u/tok123">Unsubscribe</a></p>
</body></html>"""
    text = f"Seminar on Genocide and Ethnic cleansing\n\nUnsubscribe: {landing}/u/tok123\n"
    return build("Seminar report", html=html, text=text)


def open_message(page: Page, server: DevSmtpServer) -> None:
    page.goto(server.inbox_url)
    page.get_by_role("link", name="Seminar report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Seminar report")


def test_a_delivered_message_is_read_and_its_link_followed(
    dev_smtp: DevSmtpServer, page: Page, landing: str, tmp_path: Path
) -> None:
    code, _ = send_mail(dev_smtp.smtp_port, newsletter(landing))
    assert code == 250
    [message] = dev_smtp.store.newest_first()

    open_message(page, dev_smtp)
    assert page.url == f"{dev_smtp.inbox_url}/messages/{message.id}"

    frame = page.frame_locator("iframe.html")
    expect(frame.get_by_role("heading", level=1)).to_have_text(
        "Seminar on Genocide and Ethnic cleansing"
    )
    expect(frame.locator("#scripted")).to_have_text("Scripts never run here.")

    shot = tmp_path / "message.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(PNG_SIGNATURE)

    page.get_by_role("link", name="Text").click()
    expect(page.locator("pre.text")).to_contain_text(f"Unsubscribe: {landing}/u/tok123")

    page.get_by_role("link", name="Headers").click()
    subject_row = page.get_by_role("row", name="Subject Seminar report")
    expect(subject_row).to_be_visible()

    page.get_by_role("link", name="HTML", exact=True).click()
    page.frame_locator("iframe.html").get_by_role("link", name="Unsubscribe").click()
    page.wait_for_url(f"{landing}/u/tok123")
    expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribe tok123?")


def test_a_target_blank_link_opens_a_new_tab(
    dev_smtp: DevSmtpServer, page: Page, landing: str
) -> None:
    send_mail(dev_smtp.smtp_port, newsletter(landing))
    open_message(page, dev_smtp)

    with page.expect_popup() as popup:
        page.frame_locator("iframe.html").get_by_role("link", name="Webversion").click()
    web = popup.value
    web.wait_for_load_state()
    assert web.url == f"{landing}/web"
    expect(web.get_by_role("heading", level=1)).to_have_text("The web version")
    # The inbox stays where it was.
    expect(page.get_by_role("heading", level=1)).to_have_text("Seminar report")


def test_search_and_phone_layout(dev_smtp: DevSmtpServer, browser: Browser, landing: str) -> None:
    send_mail(dev_smtp.smtp_port, newsletter(landing), recipients=["ana@example.org"])
    send_mail(dev_smtp.smtp_port, build("Other news"), recipients=["bob@example.org"])
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        page.goto(dev_smtp.inbox_url)
        page.get_by_label("Search by recipient or subject").fill("bob@")
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("link", name="Other news")).to_be_visible()
        expect(page.get_by_role("link", name="Seminar report")).to_have_count(0)
        # Nothing wider than the phone: no sideways scrolling.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]
    finally:
        context.close()
