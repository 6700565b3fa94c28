from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import newsletter.cli.send as send_command
from newsletter.cli import app
from newsletter.core.settings import get_settings
from newsletter.store.campaigns import Campaign, Delivery, campaign_summaries
from tests.sending.helpers import populated_list
from tests.store.databases import session_scope
from tests.transports.smtp_servers import Mailbox, smtp_server

RECORD = """\
title: A Small Seminar
date: 2024-05-02
organiser: MUSLIM Institute
summary: A short summary with {link}.
recommendations:
  - Keep it short
"""


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """An SMTP server the settings point at."""
    box = Mailbox()
    with smtp_server(box) as port:
        monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("NEWSLETTER_SMTP_CONNECTIONS", "2")
        monkeypatch.setenv("NEWSLETTER_FROM", "MUSLIM Institute <newsletter@example.org>")
        get_settings.cache_clear()
        yield box


def record(folder: Path, link: str = "[our site](https://example.org/)") -> Path:
    path = folder / "record.yaml"
    path.write_text(RECORD.format(link=link))
    return path


def run(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(app, ["send", *map(str, args)], input=input)


def recorded() -> tuple[int, int]:
    """Campaigns and deliveries in the store."""
    with session_scope() as session:
        return (
            session.query(Campaign).count(),
            session.query(Delivery).count(),
        )


def test_send_prints_the_campaign_first_and_reaches_everyone_once(
    db: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    audience = populated_list(active=7)
    result = run(record(tmp_path), "--list", "members", "--yes")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "campaign 1"
    assert lines[-1] == "campaign 1 done: sent 7, failed 0, skipped 0, left 0"
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)
    # The progress bar is on stderr, out of the way of scripts reading stdout.
    assert "campaign 1" in result.stderr
    message = message_from_bytes(mailbox.accepted[0].data, policy=policy.SMTP)
    assert message["X-Newsletter-Campaign"] == "1"
    assert message["List-Id"] == '"members" <members.example.org>'
    assert message["Subject"] == "Seminar: A Small Seminar"


def test_without_a_terminal_it_refuses_to_send_unless_told_yes(
    sqlite_db: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    populated_list(active=2)
    result = run(record(tmp_path), "--list", "members")
    assert result.exit_code == 1
    assert "pass --yes" in result.stderr
    assert result.stdout == ""
    assert recorded() == (0, 0)
    assert mailbox.accepted == []


@pytest.mark.parametrize(("answer", "sent"), [("n\n", 0), ("y\n", 2)])
def test_it_asks_first_showing_the_count_and_the_transport(
    sqlite_db: str,
    mailbox: Mailbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    sent: int,
) -> None:
    populated_list(active=2)
    monkeypatch.setattr(send_command, "_interactive", lambda: True)
    result = run(record(tmp_path), "--list", "members", input=answer)
    assert "to 2 recipients on list 'members' through smtp (smtp://127.0.0.1:" in result.stderr
    assert len(mailbox.accepted) == sent
    assert result.exit_code == (0 if sent else 1)
    # CliRunner echoes the typed answer on stdout, where a terminal would show it.
    output = result.stdout.removeprefix(f" {answer}")
    assert output.startswith("campaign 1\n") if sent else output == ""


def test_a_dry_run_counts_and_shows_a_sample_and_records_nothing(
    db: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    populated_list(active=3)
    sample = tmp_path / "sample.eml"
    result = run(record(tmp_path), "--list", "members", "--dry-run", "--sample-out", sample)
    assert result.exit_code == 0, result.output
    assert "list 'members': 4 active, 1 unsubscribed, 1 unconfirmed" in result.stdout
    assert "to 3 recipients (active, not suppressed)" in result.stdout
    assert "To: Reader 1 <r1@example.net>" in result.stdout
    message = message_from_bytes(sample.read_bytes(), policy=policy.SMTP)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert recorded() == (0, 0)
    assert mailbox.accepted == []


def test_a_test_message_goes_to_one_address_and_is_not_recorded(
    sqlite_db: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    populated_list(active=3)
    result = run(record(tmp_path), "--list", "members", "--test-to", "Editor@Example.org")
    assert result.exit_code == 0, result.output
    assert "test message sent to Editor@example.org" in result.stdout
    assert mailbox.recipients() == ["Editor@example.org"]
    assert recorded() == (0, 0)


def test_the_composers_problems_stop_a_send_unless_forced(
    sqlite_db: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    populated_list(active=2)
    broken = record(tmp_path, link="[our site](/relative)")
    refused = run(broken, "--list", "members", "--yes")
    assert refused.exit_code == 1
    assert "warning: bad-link" in refused.stderr
    assert "--force" in refused.stderr
    assert recorded() == (0, 0)
    forced = run(broken, "--list", "members", "--yes", "--force")
    assert forced.exit_code == 0, forced.output
    assert len(mailbox.accepted) == 2


def test_an_error_storm_ends_with_a_non_zero_status_and_the_reason(
    sqlite_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    populated_list(active=2)
    box = Mailbox(
        {
            "r1@example.net": [("rcpt", "554 5.7.1 blocked")],
            "r2@example.net": [("rcpt", "554 5.7.1 blocked")],
        }
    )
    with smtp_server(box) as port:
        monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("NEWSLETTER_SEND_PAUSE_AFTER_FAILURES", "2")
        get_settings.cache_clear()
        result = run(record(tmp_path), "--list", "members", "--yes")
    assert result.exit_code == 3, result.output
    assert result.stdout.startswith("campaign 1\n")
    assert "paused: 2 messages in a row were not accepted; the last: 554 5.7.1 blocked" in (
        result.stderr
    )
    assert "newsletter campaigns resume 1" in result.stderr
    with session_scope() as session:
        assert campaign_summaries(session)[0].pause_reason is not None


def test_an_unknown_list_or_transport_is_a_one_line_error(
    sqlite_db: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    unknown = run(record(tmp_path), "--list", "nobody", "--yes")
    assert (unknown.exit_code, unknown.stderr) == (1, "error: no list named 'nobody'\n")
    populated_list(active=1)
    bad = run(record(tmp_path), "--list", "members", "--yes", "--transport", "pigeon")
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: NEWSLETTER_TRANSPORT must be one of")
    assert recorded() == (0, 0)


def test_an_invalid_record_exits_2_with_its_problems(sqlite_db: str, tmp_path: Path) -> None:
    path = tmp_path / "record.yaml"
    path.write_text("title: Only a title\n")
    result = run(path, "--list", "members", "--yes")
    assert result.exit_code == 2
    assert "record.yaml" in result.stderr


def test_an_empty_list_sends_nothing(sqlite_db: str, mailbox: Mailbox, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["lists", "create", "empty"])
    assert result.exit_code == 0
    sent = run(record(tmp_path), "--list", "empty", "--yes")
    assert sent.exit_code == 1
    assert "no eligible subscribers" in sent.stderr
    assert recorded() == (0, 0)


def test_a_test_message_is_marked_as_one(sqlite_db: str, mailbox: Mailbox, tmp_path: Path) -> None:
    populated_list(active=1)
    result = run(record(tmp_path), "--list", "members", "--test-to", "editor@example.org")
    assert result.exit_code == 0, result.output
    message = message_from_bytes(mailbox.accepted[0].data, policy=policy.SMTP)
    assert message["Subject"] == "[Test] Seminar: A Small Seminar"


def test_a_second_send_of_the_issue_warns(db: str, mailbox: Mailbox, tmp_path: Path) -> None:
    populated_list(active=2)
    path = record(tmp_path)
    first = run(path, "--list", "members", "--yes")
    assert first.exit_code == 0, first.output
    assert "already" not in first.stderr

    again = run(path, "--list", "members", "--dry-run")

    assert again.exit_code == 0, again.output
    assert (
        "warning: this issue already went to list 'members'; 2 of its 2 recipients received it"
        in again.stderr
    )


def test_queue_without_a_broker_is_refused_saying_what_to_set(
    sqlite_db: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    populated_list(active=2)
    result = run(record(tmp_path), "--list", "members", "--yes", "--queue")
    assert result.exit_code == 1
    assert "NEWSLETTER_BROKER_URL" in result.stderr
    assert "newsletter worker" in result.stderr
    assert recorded() == (0, 0)
    assert mailbox.accepted == []


def test_queue_with_an_unreachable_broker_keeps_the_campaign_to_resume(
    sqlite_db: str, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.transports.smtp_servers import free_port

    monkeypatch.setenv("NEWSLETTER_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    get_settings.cache_clear()
    populated_list(active=2)
    result = run(record(tmp_path), "--list", "members", "--yes", "--queue")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "campaign 1"
    assert "cannot be reached" in result.stderr
    assert "newsletter campaigns resume 1" in result.stderr
    assert mailbox.accepted == []
