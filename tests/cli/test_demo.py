"""`newsletter demo` as `make demo` runs it: a real process on free loopback ports, with the
data folder in the test's tmp dir, stopped with SIGINT as Ctrl-C would."""

from __future__ import annotations

import csv
import http.cookiejar
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from newsletter.cli import app
from tests.browser import free_port
from tests.conftest import EXAMPLE, ROOT

SAMPLE = ROOT / "subscribers" / "sample.csv"
# The one row of the sample that is not an address; another row repeats line 3's.
INVALID = "farah.khan@example"
READY = "Press Ctrl-C to stop."
START_TIMEOUT = 60.0

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Ports:
    web: int
    smtp: int
    inbox: int

    def options(self) -> list[str]:
        return [
            "--port",
            str(self.web),
            "--smtp-port",
            str(self.smtp),
            "--inbox-port",
            str(self.inbox),
        ]

    def all(self) -> tuple[int, int, int]:
        return self.web, self.smtp, self.inbox


def _free_ports() -> Ports:
    while True:
        ports = Ports(free_port(), free_port(), free_port())
        if len(set(ports.all())) == 3:
            return ports


class Demo:
    """One `newsletter demo` process; its stdout and stderr go to files in `folder`."""

    def __init__(self, folder: Path, ports: Ports, name: str = "demo") -> None:
        self.stdout = folder / f"{name}.out"
        self.stderr = folder / f"{name}.err"
        command = [
            sys.executable,
            "-c",
            "from newsletter.cli import main; main()",
            "demo",
            *ports.options(),
            "--record",
            str(EXAMPLE),
            "--subscribers",
            str(SAMPLE),
            "--out",
            str(folder / "out"),
        ]
        with self.stdout.open("wb") as out, self.stderr.open("wb") as err:
            # The conftest fixture has pointed NEWSLETTER_DATA_DIR at the tmp dir.
            self.process = subprocess.Popen(command, cwd=folder, stdout=out, stderr=err)

    def output(self) -> str:
        return self.stdout.read_text()

    def errors(self) -> str:
        return self.stderr.read_text()

    def wait_until_ready(self) -> dict[str, str]:
        """The URLs the demo prints once everything runs, by label."""
        deadline = time.monotonic() + START_TIMEOUT
        while READY not in self.output():
            assert self.process.poll() is None, f"{self.output()}\n{self.errors()}"
            assert time.monotonic() < deadline, "the demo did not get ready"
            time.sleep(0.05)
        urls = {}
        for line in self.output().splitlines():
            label, _, url = line.strip().partition("  ")
            if url.strip().startswith("http://"):
                urls[label] = url.strip()
        return urls

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def _json(url: str) -> Any:
    return json.loads(_get(url)[1])


def _expected_recipients() -> set[str]:
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        addresses = {row["email"].strip().lower() for row in csv.DictReader(handle)}
    return addresses - {INVALID}


def _captured(inbox: str) -> list[dict[str, Any]]:
    listing = _json(f"{inbox}/api/messages")
    messages: list[dict[str, Any]] = listing["messages"]
    assert listing["total"] == len(messages)
    return messages


def _staff_password(output: str) -> str:
    """The password the demo printed last for its staff account."""
    found = re.findall(r"^    password   (\S+)   \(a new one each run\)$", output, re.MULTILINE)
    assert found, output
    assert "    log in as  demo-staff@example.org" in output
    return str(found[-1])


def _can_log_in(staff: str, password: str) -> bool:
    """Log in to the staff area as a browser would: True when the staff home opens."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    with opener.open(f"{staff}login", timeout=10) as response:
        login_page = response.read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', login_page)
    assert csrf is not None, login_page
    form = {"csrf": csrf.group(1), "email": "demo-staff@example.org", "password": password}
    try:
        with opener.open(
            f"{staff}login", data=urllib.parse.urlencode({**form, "next": ""}).encode(), timeout=10
        ) as response:
            return b"Log out" in response.read()
    except urllib.error.HTTPError as refused:
        assert refused.code == 401
        return False


def _port_is_free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def test_demo_runs_the_main_job_stops_on_ctrl_c_and_runs_again(tmp_path: Path) -> None:
    first_password = _first_run(tmp_path)
    # Run again on the same data: the list is kept, the import updates it, and the issue
    # goes out as a new campaign to a new (empty) capture inbox.
    demo = Demo(tmp_path, _free_ports(), name="again")
    try:
        urls = demo.wait_until_ready()
        assert "added 0, updated 23, skipped 2" in demo.output()
        assert "created list" not in demo.output()
        assert "campaign 2 done: sent 23" in demo.output()
        assert len(_captured(urls["Inbox"])) == 23
        # The staff account is kept, with a new password: the first run's no longer works.
        assert "reset the password of the demo staff account" in demo.output()
        password = _staff_password(demo.output())
        assert password != first_password
        assert _can_log_in(urls["Staff area"], password)
        assert not _can_log_in(urls["Staff area"], first_password)
        assert demo.interrupt() == 0
    finally:
        demo.kill()
    assert "Traceback" not in demo.errors(), demo.errors()


def _first_run(tmp_path: Path) -> str:
    """The run on a new data folder; the staff password it printed."""
    ports = _free_ports()
    demo = Demo(tmp_path, ports)
    try:
        urls = demo.wait_until_ready()
        assert "created list 'members'" in demo.output()
        assert "added 23, updated 0, skipped 2" in demo.output()
        assert "campaign 1 done: sent 23" in demo.output()
        assert (tmp_path / "out" / "web.html").is_file()
        assert (tmp_path / "data" / "newsletter.db").is_file()

        inbox = urls["Inbox"]
        assert inbox == f"http://127.0.0.1:{ports.inbox}"
        messages = _captured(inbox)
        recipients = [to.lower() for message in messages for to in message["envelope_to"]]
        assert len(_expected_recipients()) == 23
        assert sorted(recipients) == sorted(_expected_recipients())

        web_version = urls["Web version"]
        assert web_version.startswith(f"http://127.0.0.1:{ports.web}/issues/")
        status, page = _get(web_version)
        assert status == 200
        assert b"Khojaly" in page
        assert _get(urls["Archive"])[0] == 200
        # The staff area, with the account the demo made and the password it printed.
        assert urls["Staff area"] == f"http://127.0.0.1:{ports.web}/staff/"
        assert "created the demo staff account demo-staff@example.org" in demo.output()
        password = _staff_password(demo.output())
        assert len(password) >= 12
        assert _can_log_in(urls["Staff area"], password)
        assert not _can_log_in(urls["Staff area"], password + "x")
        # The links in the mail lead to the demo's own web side.
        html = _json(f"{inbox}/api/messages/{messages[0]['id']}")["html"]
        assert web_version in html

        # A second demo on the same ports says why it cannot start, and nothing more.
        second = CliRunner().invoke(app, ["demo", *ports.options()])
        assert second.exit_code == 1
        assert second.output.startswith(
            f"error: cannot listen for the web side on 127.0.0.1:{ports.web}: "
        )
        assert "demo still running" in second.output
        assert len(second.output.splitlines()) == 1
        assert len(_captured(inbox)) == 23

        assert demo.interrupt() == 0
    finally:
        demo.kill()
    assert "Traceback" not in demo.errors()
    assert demo.output().rstrip().endswith("Stopped.")
    assert all(_port_is_free(port) for port in ports.all())
    return password
