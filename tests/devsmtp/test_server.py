from __future__ import annotations

import json
import socket
import urllib.request
from typing import Any

import pytest

from newsletter.devsmtp.capture import DevSmtpError
from newsletter.devsmtp.server import DevSmtpServer, url_host
from tests.browser import free_port, send_mail
from tests.devsmtp.messages import build


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def test_mail_sent_to_the_smtp_port_shows_in_the_inbox() -> None:
    smtp_port, http_port = free_port(), free_port()
    with DevSmtpServer("127.0.0.1", smtp_port, http_port) as server:
        assert server.smtp_url == f"smtp://127.0.0.1:{smtp_port}"
        assert server.inbox_url == f"http://127.0.0.1:{http_port}"
        send_mail(smtp_port, build("Through both"), recipients=["ana@example.org"])

        listing = get_json(f"{server.inbox_url}/api/messages")
        assert [m["subject"] for m in listing["messages"]] == ["Through both"]
        with urllib.request.urlopen(server.inbox_url, timeout=5) as response:
            assert f"smtp://127.0.0.1:{smtp_port}" in response.read().decode()


def test_stop_frees_both_ports_for_the_next_run() -> None:
    smtp_port, http_port = free_port(), free_port()
    with DevSmtpServer("127.0.0.1", smtp_port, http_port):
        pass
    with DevSmtpServer("127.0.0.1", smtp_port, http_port) as again:
        send_mail(smtp_port, build())
        assert len(again.store) == 1


@pytest.mark.parametrize("busy", ["SMTP", "HTTP"])
def test_a_busy_port_is_a_clear_error(busy: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        ports = (port, free_port()) if busy == "SMTP" else (free_port(), port)
        server = DevSmtpServer("127.0.0.1", *ports)
        with pytest.raises(DevSmtpError, match=f"cannot listen for {busy} on 127.0.0.1:{port}"):
            server.start()
    # Nothing is left bound by the failed start.
    other = ports[1] if busy == "SMTP" else ports[0]
    with socket.create_server(("127.0.0.1", other)):
        pass


@pytest.mark.parametrize(
    ("smtp_port", "http_port", "problem"),
    [
        (0, 8025, "SMTP port must be between 1 and 65535, not 0"),
        (1025, 70000, "HTTP port must be between 1 and 65535, not 70000"),
        (2525, 2525, "must differ"),
    ],
)
def test_bad_ports_are_refused(smtp_port: int, http_port: int, problem: str) -> None:
    with pytest.raises(DevSmtpError, match=problem):
        DevSmtpServer("127.0.0.1", smtp_port, http_port)


def test_ipv6_hosts_are_bracketed_in_urls() -> None:
    assert url_host("::1") == "[::1]"
    assert url_host("127.0.0.1") == "127.0.0.1"
    server = DevSmtpServer("::1", 1025, 8025)
    assert server.inbox_url == "http://[::1]:8025"
