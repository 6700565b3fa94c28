from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.core.settings import get_settings
from tests.sending.helpers import new_campaign, populated_list, rows
from tests.sending.mta import Mta
from tests.transports.smtp_servers import Mailbox, smtp_server

NEWSLETTER = Path(sys.executable).with_name("newsletter")


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox()
    with smtp_server(box) as port:
        monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("NEWSLETTER_FROM", "MUSLIM Institute <newsletter@example.org>")
        get_settings.cache_clear()
        yield box


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["campaigns", *args])


def listed() -> list[dict[str, object]]:
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    found: list[dict[str, object]] = json.loads(result.stdout)
    return found


def test_list_shows_each_campaign_with_its_counts(db: str, mailbox: Mailbox) -> None:
    assert listed() == []
    assert "No campaigns yet" in run("list").stdout
    audience = populated_list(active=3)
    done = new_campaign(audience)
    assert run("resume", str(done)).exit_code == 0
    waiting = new_campaign(audience)
    campaigns = listed()
    assert [c["id"] for c in campaigns] == [waiting, done]
    first = campaigns[1]
    assert {k: first[k] for k in ("status", "total", "sent", "failed", "skipped", "pending")} == {
        "status": "done",
        "total": 3,
        "sent": 3,
        "failed": 0,
        "skipped": 0,
        "pending": 0,
    }
    assert (first["list"], first["subject"], first["transport"]) == (
        "members",
        "A Small Seminar",
        "smtp",
    )
    assert first["running"] is False and first["finished_at"] is not None
    assert campaigns[0]["pending"] == 3
    table = run("list").stdout
    assert "done" in table and "interrupted" in table


def test_pause_resume_and_cancel(db: str, mailbox: Mailbox) -> None:
    audience = populated_list(active=3)
    campaign_id = str(new_campaign(audience))
    paused = run("pause", campaign_id)
    assert paused.exit_code == 0, paused.output
    assert paused.stdout.startswith(f"paused campaign {campaign_id}")
    assert run("pause", campaign_id).stdout == f"campaign {campaign_id} was paused already\n"
    assert listed()[0]["status"] == "paused"
    resumed = run("resume", campaign_id)
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout.endswith(
        f"campaign {campaign_id} done: sent 3, failed 0, skipped 0, left 0\n"
    )
    assert len(mailbox.accepted) == 3
    again = run("resume", campaign_id)
    assert again.exit_code == 1
    assert again.stderr == f"error: campaign {campaign_id} is done; there is nothing to resume\n"
    assert run("cancel", campaign_id).stderr.startswith(f"error: campaign {campaign_id} is done")

    other = str(new_campaign(audience))
    cancelled = run("cancel", other)
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout == f"cancelled campaign {other}: 3 pending deliveries skipped\n"
    assert listed()[0]["skipped"] == 3
    assert run("resume", other).exit_code == 1
    assert run("pause", other).exit_code == 1
    assert len(mailbox.accepted) == 3


def test_an_unknown_campaign_is_a_one_line_error(sqlite_db: str) -> None:
    for command in ("pause", "resume", "cancel"):
        result = run(command, "41")
        assert (result.exit_code, result.stderr) == (1, "error: no campaign with id 41\n")


@pytest.mark.slow
def test_a_pause_from_another_process_stops_the_sender_within_one_batch(
    sqlite_db: str, tmp_path: Path
) -> None:
    audience = populated_list(active=400)
    record = tmp_path / "record.yaml"
    record.write_text(
        "title: A Small Seminar\ndate: 2024-05-02\norganiser: MUSLIM Institute\n"
        "summary: Short, [with a link](https://example.org/).\n"
    )
    with Mta(reply_delay=0.02) as mta:
        env = dict(os.environ)
        env.update(
            NEWSLETTER_SMTP_URL=f"smtp://127.0.0.1:{mta.port}",
            NEWSLETTER_SMTP_CONNECTIONS="2",
            NEWSLETTER_SEND_BATCH_SIZE="20",
            NEWSLETTER_FROM="MUSLIM Institute <newsletter@example.org>",
        )
        out, err = tmp_path / "send.out", tmp_path / "send.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            sender = subprocess.Popen(
                [str(NEWSLETTER), "send", str(record), "--list", "members", "--yes"],
                env=env,
                stdout=stdout,
                stderr=stderr,
            )
        try:
            database = sqlite_db.removeprefix("sqlite:///")
            deadline = time.monotonic() + 30
            while _sent(database) < 40:
                assert sender.poll() is None and time.monotonic() < deadline, out.read_text()
                time.sleep(0.01)
            campaign_id = out.read_text().split()[1]
            pause = subprocess.run(
                [str(NEWSLETTER), "campaigns", "pause", campaign_id],
                env=env,
                capture_output=True,
                check=False,
            )
            assert pause.returncode == 0, pause.stderr
            at_pause = _sent(database)
            assert sender.wait(timeout=30) == 3
        finally:
            if sender.poll() is None:
                sender.send_signal(signal.SIGKILL)
                sender.wait()
    final = rows(int(campaign_id))
    sent = sum(1 for row in final.values() if row.state.value == "sent")
    # The batch in flight when the pause landed is finished and recorded; no other starts.
    assert at_pause <= sent <= at_pause + 20
    assert len(mta.accepted) == sent < len(audience.eligible)
    assert "paused: paused with `newsletter campaigns pause`" in err.read_text()


def _sent(database: str) -> int:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        try:
            row = connection.execute(
                "SELECT count(*) FROM deliveries WHERE state = 'sent'"
            ).fetchone()
        except sqlite3.OperationalError:
            return 0
        return int(row[0])
    finally:
        connection.close()


def test_wait_ends_at_once_for_a_finished_campaign(db: str, mailbox: Mailbox) -> None:
    campaign_id = new_campaign(populated_list(active=3))
    assert run("resume", str(campaign_id)).exit_code == 0
    result = run("wait", str(campaign_id))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        f"campaign {campaign_id} done: sent 3, failed 0, skipped 0, left 0"
    )


def test_wait_gives_up_at_its_timeout_and_says_so(sqlite_db: str) -> None:
    # Nobody sends it: no worker runs.
    campaign_id = new_campaign(populated_list(active=2))
    result = run("wait", str(campaign_id), "--timeout", "0.3")
    assert result.exit_code == 1
    assert f"timed out after 0.3 s: campaign {campaign_id} is still interrupted" in result.stderr
    assert "2 of 2 left" in result.stderr


def test_wait_for_an_unknown_campaign_exits_2(sqlite_db: str) -> None:
    result = run("wait", "99")
    assert result.exit_code == 2
    assert "99" in result.stderr


def test_wait_reports_a_cancelled_campaign(sqlite_db: str) -> None:
    campaign_id = new_campaign(populated_list(active=2))
    assert run("cancel", str(campaign_id)).exit_code == 0
    result = run("wait", str(campaign_id))
    assert result.exit_code == 4
    assert f"campaign {campaign_id} cancelled" in result.stdout
