"""A local HTTP server standing in for SNS's own URLs: signing certificates and
subscription confirmations. It records every request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

CERT_PATH = "/SimpleNotificationService-0000000000000000000000.pem"
REDIRECT_PATH = "/moved.pem"
CONFIRMED = b"""<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
<ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:eu-west-1:123456789012:ses-feedback:1
</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"""


@dataclass
class SnsServer:
    certificate: bytes
    base: str = ""
    requests: list[str] = field(default_factory=list)
    # Answered instead of everything while set.
    status: int = 200

    @property
    def cert_url(self) -> str:
        return self.base + CERT_PATH

    def subscribe_url(self, token: str = "2336412f37fb") -> str:
        return f"{self.base}/?Action=ConfirmSubscription&TopicArn=arn&Token={token}"

    def count(self, path: str) -> int:
        return sum(1 for seen in self.requests if urlsplit(seen).path == path)


@contextmanager
def sns_server(certificate: bytes) -> Iterator[SnsServer]:
    state = SnsServer(certificate)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            path = urlsplit(self.path).path
            if state.status != 200:
                self._answer(state.status, b"unavailable")
            elif path == CERT_PATH:
                self._answer(200, state.certificate)
            elif path == REDIRECT_PATH:
                self.send_response(302)
                self.send_header("Location", CERT_PATH)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/" and "Action=ConfirmSubscription" in self.path:
                self._answer(200, CONFIRMED)
            else:
                self._answer(404, b"<Error><Code>NotFound</Code></Error>")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# Lets the local server stand in for sns.<region>.amazonaws.com.
LOCAL_PATTERN = r"http://127\.0\.0\.1:\d+"
