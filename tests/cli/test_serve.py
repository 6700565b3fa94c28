from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from tests.browser import free_port
from tests.web.helpers import new_list, new_member


def _get(port: int, path: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_serve_answers_on_the_port_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    member = new_member("ana@example.org", new_list("members"))
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from newsletter.cli import main; main()",
            "serve",
            "--port",
            str(port),
        ],
        env={**os.environ, "NEWSLETTER_PUBLIC_URL": f"http://127.0.0.1:{port}"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, page = _get(port, "/issues/")
                break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "newsletter serve did not start"
                time.sleep(0.1)
        assert status == 200
        assert b"Past issues" in page
        status, _ = _get(port, f"/u/{member.token('u')}", "POST", b"List-Unsubscribe=One-Click")
        assert status == 200
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0].decode()
    assert server.returncode == 0, output
    assert f"Serving http://127.0.0.1:{port}" in output


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("NEWSLETTER_DATABASE_URL", "not a url", "error: invalid database URL"),
        ("NEWSLETTER_PUBLIC_URL", "example.org", "NEWSLETTER_PUBLIC_URL"),
        ("NEWSLETTER_SECRET_KEY", "short", "at least 16 characters"),
    ],
)
def test_bad_settings_are_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    from newsletter.core.settings import get_settings

    monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    result = CliRunner().invoke(app, ["serve"])

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
