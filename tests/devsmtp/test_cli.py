"""`newsletter dev-smtp` as a user runs it: a real process, stopped with Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from tests.browser import free_port, send_mail
from tests.devsmtp.messages import build

NEWSLETTER = Path(sys.executable).parent / "newsletter"


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_runs_until_stopped_and_stops_quietly(tmp_path: Path, stop_with: signal.Signals) -> None:
    smtp_port, http_port = free_port(), free_port()
    saved = tmp_path / "saved"
    command = [str(NEWSLETTER), "dev-smtp", "--port", str(smtp_port)]
    command += ["--http-port", str(http_port), "--save", str(saved)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(4)]
        assert banner[0].split()[:2] == ["SMTP", f"smtp://127.0.0.1:{smtp_port}"]
        assert banner[1].split() == ["Inbox", f"http://127.0.0.1:{http_port}"]
        assert str(saved) in banner[2]

        send_mail(smtp_port, build("From the CLI"))
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/messages") as response:
            assert [m["subject"] for m in json.load(response)["messages"]] == ["From the CLI"]
        assert len(list(saved.glob("*.eml"))) == 1

        process.send_signal(stop_with)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert out.strip().endswith("Stopped.")
    # Both ports are free again.
    for port in (smtp_port, http_port):
        with socket.create_server(("127.0.0.1", port)):
            pass


def test_a_busy_port_exits_with_one_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["dev-smtp", "--port", str(port), "--http-port", str(free_port())]
        )
    assert result.exit_code == 1
    assert result.output.startswith(f"error: cannot listen for SMTP on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.output


def test_a_bad_limit_exits_with_the_reason() -> None:
    result = CliRunner().invoke(app, ["dev-smtp", "--limit", "0"])
    assert result.exit_code == 1
    assert "error: the message limit must be at least 1, not 0" in result.output
