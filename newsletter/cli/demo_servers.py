"""What `newsletter demo` runs on: its settings, its two servers and its mailing list.

The demo is one process. The capture server (dev-smtp) and the web side run in background
threads of it, so Ctrl-C reaches one process that stops both: nothing can be left behind
listening on a port, and the in-memory inbox goes away with it.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from newsletter.cli import context
from newsletter.core.errors import NewsletterError
from newsletter.core.links import Links
from newsletter.core.settings import Settings, load_settings
from newsletter.devsmtp.capture import DevSmtpError
from newsletter.devsmtp.server import DevSmtpServer

# Loopback only: the demo's pages and inbox are for the person at this machine.
HOST = "127.0.0.1"
LIST_DESCRIPTION = "Members (the demo's sample subscribers)"
# The demo's staff login; example.org never receives mail, so the account is only a login.
STAFF_EMAIL = "demo-staff@example.org"

_START_TIMEOUT = 10.0
# A browser holding a request open must not keep Ctrl-C from ending the demo.
_SHUTDOWN_TIMEOUT = 3
_BUSY_HINT = (
    "is a demo still running? Stop it, or pick other ports with --port, --smtp-port "
    "and --inbox-port"
)


class DemoError(NewsletterError):
    """The demo cannot start: a bad port, or a port another process holds."""


@dataclass(frozen=True)
class DemoPorts:
    web: int
    smtp: int
    inbox: int

    def check(self) -> None:
        named = {"--port": self.web, "--smtp-port": self.smtp, "--inbox-port": self.inbox}
        for option, port in named.items():
            if not 0 < port < 65536:
                raise DemoError(f"{option} must be between 1 and 65535, not {port}")
        if len(set(named.values())) < len(named):
            raise DemoError("--port, --smtp-port and --inbox-port must all differ")


def demo_settings(ports: DemoPorts) -> Settings:
    """The embedded defaults, whatever the environment or `.env` say about where mail goes.

    The demo's steps run on these (newsletter.cli.context.running_on), and its web
    server is made with them; the environment is left alone. The public URL is the demo's
    own web server, so the links in the captured mail work; mail goes to its capture
    server, never to a real one; the database is SQLite in the data folder, so the sample
    list never lands in a production database named in `.env`. The data folder itself
    (NEWSLETTER_DATA_DIR, by default subscribers/) and everything else are as configured.
    """
    return load_settings(
        public_url=f"http://{HOST}:{ports.web}",
        transport="smtp",
        smtp_url=f"smtp://{HOST}:{ports.smtp}",
        # Empty means the default: SQLite in the data folder.
        database_url="",
    )


def _listen(port: int, what: str) -> socket.socket:
    try:
        return socket.create_server((HOST, port))
    except OSError as exc:
        # create_server's own message repeats the address; the errno's text is enough.
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise DemoError(
            f"cannot listen for {what} on {HOST}:{port}: {reason}; {_BUSY_HINT}"
        ) from None


class WebServer:
    """`newsletter serve`'s app under uvicorn in a background thread.

    The socket is bound here rather than by uvicorn, which exits the process when it
    cannot bind; a busy port is a `DemoError` instead.
    """

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from newsletter.web.app import create_app

        listener = _listen(self.port, "the web side")
        try:
            # Migrates the database now, so a broken one fails here and not on a click.
            app = create_app(self.settings)
        except BaseException:
            listener.close()
            raise
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=_SHUTDOWN_TIMEOUT,
            )
        )
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [listener]}, name="demo-web", daemon=True
        )
        self._socket, self._server, self._thread = listener, server, thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise DemoError("the web server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._server = None


@dataclass(frozen=True)
class DemoUrls:
    inbox: str
    archive: str
    staff: str
    # None when no campaign of the issue has gone out yet.
    web_version: str | None


class DemoServers:
    """The capture server with its inbox, and the web side; started together or not at all."""

    def __init__(self, settings: Settings, ports: DemoPorts) -> None:
        self.settings = settings
        self.web = WebServer(settings, ports.web)
        self.mail = DevSmtpServer(HOST, ports.smtp, ports.inbox)

    def start(self) -> None:
        self.web.start()
        try:
            self.mail.start()
        except DevSmtpError as exc:
            self.web.stop()
            raise DemoError(f"{exc}; {_BUSY_HINT}") from None
        except BaseException:
            self.web.stop()
            raise

    def stop(self) -> None:
        try:
            self.mail.stop()
        finally:
            self.web.stop()

    def urls(self, slug: str) -> DemoUrls:
        from newsletter.web import issues

        links = Links(self.settings.public_url)
        with context.transaction() as session:
            published = issues.by_slug(session, slug) is not None
        return DemoUrls(
            inbox=self.mail.inbox_url,
            archive=links.archive(),
            staff=f"{self.settings.public_url}/staff/",
            web_version=links.web(slug) if published else None,
        )


def ensure_list(name: str) -> bool:
    """Create the list unless it exists; True when it was created."""
    from newsletter.store.errors import UnknownListError
    from newsletter.store.lists import create_list, get_list

    with context.transaction(write=True) as session:
        try:
            get_list(session, name)
        except UnknownListError:
            create_list(session, name, LIST_DESCRIPTION)
            return True
    return False


@dataclass(frozen=True)
class StaffLogin:
    email: str
    password: str
    # False when the account was there already: its password was reset.
    created: bool


def ensure_staff_account(email: str = STAFF_EMAIL) -> StaffLogin:
    """The demo's staff account with a new random password, created unless it exists.

    A new password each run, because the last one was printed to a terminal and may be in
    its scrollback; resetting it also ends the sessions of the previous run, and a
    disabled demo account is enabled again.
    """
    from newsletter.store.staff import (
        NoSuchStaffUserError,
        add_user,
        find_user,
        hash_password,
        set_active,
        set_password,
    )

    # 20 characters from the URL-safe alphabet: over the length rule, easy to copy.
    password = secrets.token_urlsafe(15)
    with context.transaction() as session:
        try:
            find_user(session, email)
        except NoSuchStaffUserError:
            exists = False
        else:
            exists = True
    if not exists:
        with context.transaction(write=True) as session:
            add_user(session, email, password)
        return StaffLogin(email, password, created=True)
    # argon2 before the write transaction, not inside it (as `users passwd` does).
    hashed = hash_password(password)
    with context.transaction(write=True) as session:
        set_password(session, email, hashed)
        set_active(session, email, True)
    return StaffLogin(email, password, created=False)


def eligible_count(name: str) -> int:
    """Who a campaign to the list would reach now (active and not suppressed)."""
    return context.campaigns().audience(name).eligible


def issue_slug(record: Path) -> str:
    from newsletter.record.loader import load_record

    return load_record(record).record.issue_slug
