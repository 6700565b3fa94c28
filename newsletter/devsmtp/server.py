"""Both halves of `newsletter dev-smtp`: the aiosmtpd capture server in its own thread and
the inbox under uvicorn, either in the calling (main) thread or in a background thread.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from newsletter.devsmtp.capture import (
    DEFAULT_LIMIT,
    CaptureHandler,
    DevSmtpError,
    MessageStore,
    accept_any_login,
)
from newsletter.devsmtp.inbox import create_app
from newsletter.devsmtp.smtpd import CaptureController

# The name the server gives in its greeting. Without one aiosmtpd looks up the machine's
# FQDN for every connection, which can take seconds where DNS is slow.
SERVER_NAME = "dev-smtp"
_START_TIMEOUT = 10.0


def url_host(host: str) -> str:
    """`host` as it goes into a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


class DevSmtpServer:
    """A capture SMTP server and its web inbox, sharing one `MessageStore`.

    `start()` runs both in background threads (tests, scripts); `serve()` runs the inbox
    in the calling thread until Ctrl-C or SIGTERM and then stops both.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        smtp_port: int = 1025,
        http_port: int = 8025,
        *,
        limit: int = DEFAULT_LIMIT,
        save_dir: Path | None = None,
    ) -> None:
        for name, port in (("SMTP", smtp_port), ("HTTP", http_port)):
            if not 0 < port < 65536:
                raise DevSmtpError(f"the {name} port must be between 1 and 65535, not {port}")
        if smtp_port == http_port:
            raise DevSmtpError(f"the SMTP and HTTP ports must differ (both are {smtp_port})")
        self.host = host
        self.smtp_port = smtp_port
        self.http_port = http_port
        self.store = MessageStore(limit=limit, save_dir=save_dir)
        self._controller: CaptureController | None = None
        self._socket: socket.socket | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def smtp_url(self) -> str:
        return f"smtp://{url_host(self.host)}:{self.smtp_port}"

    @property
    def inbox_url(self) -> str:
        return f"http://{url_host(self.host)}:{self.http_port}"

    def _bind(self, port: int, name: str) -> socket.socket:
        try:
            return socket.create_server(
                (self.host, port), family=socket.AF_INET6 if ":" in self.host else socket.AF_INET
            )
        except OSError as exc:
            raise DevSmtpError(
                f"cannot listen for {name} on {url_host(self.host)}:{port}: {exc.strerror or exc}"
            ) from None

    def _open(self) -> uvicorn.Server:
        """Bind both ports, so that a busy one fails at once with a clear message."""
        # aiosmtpd reports a port it cannot bind only after its start timeout: a quick
        # bind of our own first answers at once (a port taken in between still fails, slowly).
        self._bind(self.smtp_port, "SMTP").close()
        # The HTTP socket is bound here rather than by uvicorn, which exits the process
        # when it cannot bind.
        listener = self._bind(self.http_port, "HTTP")
        controller = CaptureController(
            CaptureHandler(self.store),
            hostname=self.host,
            port=self.smtp_port,
            server_hostname=SERVER_NAME,
            ready_timeout=_START_TIMEOUT,
            authenticator=accept_any_login,
            auth_require_tls=False,
        )
        try:
            controller.start()
        except OSError as exc:
            listener.close()
            raise DevSmtpError(
                f"cannot listen for SMTP on {url_host(self.host)}:{self.smtp_port}: "
                f"{exc.strerror or exc}"
            ) from None
        self._controller = controller
        self._socket = listener
        config = uvicorn.Config(
            create_app(self.store, smtp_url=self.smtp_url),
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._uvicorn = uvicorn.Server(config)
        return self._uvicorn

    def start(self) -> None:
        """Run both servers in background threads; returns once both accept connections."""
        server = self._open()
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise DevSmtpError("the inbox web server did not start")
            time.sleep(0.01)

    def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Run until Ctrl-C or SIGTERM (main thread only), then stop both servers.

        `on_ready()` is called once both servers listen.
        """
        stopping = threading.Event()

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.set()
            if self._uvicorn is not None:
                self._uvicorn.should_exit = True

        # Installed before anything starts, so Ctrl-C at any moment ends quietly. uvicorn
        # handles the signals while it runs, then restores these handlers and raises the
        # signal again: ours only ask it to stop, so that is harmless.
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server = self._open()
            if stopping.is_set():
                return
            if on_ready is not None:
                on_ready()
            server.run(sockets=[self._socket] if self._socket else None)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT)
            self._thread = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._uvicorn = None

    def __enter__(self) -> DevSmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
