"""`newsletter worker` (newsletter.cli.worker); the workers at work are in
tests/sending/test_worker.py."""

from __future__ import annotations

from typer.testing import CliRunner

from newsletter.cli import app


def test_without_a_broker_the_worker_refuses_to_start_saying_what_to_set(sqlite_db: str) -> None:
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 1
    assert "NEWSLETTER_BROKER_URL" in result.stderr
    assert "redis://127.0.0.1:6379/0" in result.stderr
