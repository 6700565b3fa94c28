"""Plumbing for end-to-end tests in a real browser, and live servers on loopback.

Playwright drives Debian's chromium at /usr/bin/chromium (scripts/system-deps installs it);
Playwright's own browser downloads are never used. To use the fixtures below a test
folder, import them into its conftest.py (pytest refuses `pytest_plugins` outside the
top-level conftest):

    from tests.browser import browser, dev_smtp, page  # noqa: F401

Fixtures:
- `browser` (session): one chromium for the whole run, shared by every folder that
  imports the fixture; the tests that use it are skipped, saying why, when
  /usr/bin/chromium is missing.
- `page` (function): a fresh context (no cookies, desktop viewport) and page.
- `dev_smtp` (function): a running `newsletter dev-smtp` (SMTP and inbox) on free ports.

Helpers: `free_port()`, `live_server(app)` (any ASGI app under uvicorn in a thread),
`send_mail(port, raw, ...)` and `wait_for(condition)`.
"""

from __future__ import annotations

import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from newsletter.devsmtp.server import DevSmtpServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
_START_TIMEOUT = 10.0


def free_port() -> int:
    """A loopback port free right now (another process could take it before it is used)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve the ASGI `app` with uvicorn in a background thread; yields its base URL."""
    # Bound here on port 0, so there is no race for the port.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
        if not server.started:
            raise RuntimeError("the live server stopped while starting")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=_START_TIMEOUT)
        listener.close()


def wait_for(
    condition: Callable[[], object], *, timeout: float = 5.0, what: str = "the condition"
) -> None:
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def send_mail(
    port: int,
    raw: bytes,
    *,
    sender: str = "newsletter@example.org",
    recipients: Sequence[str] = ("reader@example.org",),
) -> tuple[int, bytes]:
    """Deliver `raw` to the SMTP server on 127.0.0.1:`port`; returns the reply to DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.mail(sender)
        for recipient in recipients:
            client.rcpt(recipient)
        return client.data(raw)


class _SharedChromium:
    """One chromium per process. Each conftest that imports `browser` makes a session
    fixture of its own, and Playwright's sync API cannot start a second time in a thread
    where it runs: the second folder's tests would all fail to set up."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._chromium: Browser | None = None
        self._users = 0

    @contextmanager
    def use(self) -> Iterator[Browser]:
        if self._chromium is None:
            self._playwright = sync_playwright().start()
            try:
                self._chromium = self._playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
            except BaseException:
                self._playwright.stop()
                self._playwright = None
                raise
        self._users += 1
        try:
            yield self._chromium
        finally:
            self._users -= 1
            if self._users == 0:
                self._chromium.close()
                assert self._playwright is not None
                self._playwright.stop()
                self._chromium = self._playwright = None


shared_chromium = _SharedChromium()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(run scripts/system-deps, which `make install` does)"
        )
    with shared_chromium.use() as chromium:
        yield chromium


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    # Failing fast beats Playwright's 30 s default on a local page that will never load.
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def dev_smtp() -> Iterator[DevSmtpServer]:
    """A running capture server: `.smtp_port`, `.inbox_url`, `.store`."""
    server = DevSmtpServer("127.0.0.1", free_port(), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
