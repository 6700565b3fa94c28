from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from newsletter.cli import app
from tests.store.helpers import SAMPLE, write_csv

SAMPLE_REPORT = (
    "added 23, updated 0, skipped 2\n"
    "line 11: invalid email 'farah.khan@example': The part after the @-sign is not valid. "
    "It should have a period.\n"
    "line 15: duplicate of line 3 ('J.Okafor@example.com')\n"
)


@pytest.fixture
def members(db: str) -> str:
    assert run("lists", "create", "members").exit_code == 0
    return "members"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def fails(result: Result, message: str) -> None:
    """A clean one-line error on stderr and status 1: no traceback."""
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: {message}\n"
    assert isinstance(result.exception, SystemExit)


def test_import_sample_prints_summary_then_each_rejected_row(members: str) -> None:
    result = run("subscribers", "import", members, SAMPLE)
    assert result.exit_code == 0, result.output
    assert result.stdout == SAMPLE_REPORT
    again = run("subscribers", "import", members, SAMPLE)
    assert again.stdout.splitlines()[0] == "added 0, updated 23, skipped 2"


def test_import_errors(members: str, tmp_path: Path) -> None:
    fails(run("subscribers", "import", "press", SAMPLE), "no list named 'press'")
    fails(
        run("subscribers", "import", members, tmp_path / "x.csv"),
        f"{tmp_path / 'x.csv'}: no such file",
    )
    bad = write_csv(tmp_path / "bad.csv", "name,mail\nA,a@example.org\n")
    fails(
        run("subscribers", "import", members, bad),
        f"{bad}: the header row has no 'email' column (found 'name', 'mail')",
    )
    assert run("lists").stdout.count(" 0 ") >= 3  # nothing was imported


def test_reimport_after_unsubscribe_is_skipped_with_a_reason(members: str) -> None:
    run("subscribers", "import", members, SAMPLE)
    result = run("subscribers", "unsubscribe", "AMINA.rahman@example.org", "--list", members)
    assert result.stdout == "unsubscribed amina.rahman@example.org from 'members'\n"
    again = run("subscribers", "unsubscribe", "amina.rahman@example.org", "--list", members)
    assert again.stdout == "amina.rahman@example.org was already unsubscribed from 'members'\n"
    report = run("subscribers", "import", members, SAMPLE).stdout.splitlines()
    assert report[0] == "added 0, updated 22, skipped 3"
    assert "line 2: 'amina.rahman@example.org' unsubscribed from 'members'" in report


def test_unsubscribe_from_everything_suppresses(members: str) -> None:
    run("lists", "create", "press")
    run("subscribers", "import", members, SAMPLE)
    result = run("subscribers", "unsubscribe", "li.wei@example.org")
    assert result.stdout == (
        "unsubscribed li.wei@example.org from every list; the address is suppressed\n"
    )
    report = run("subscribers", "import", "press", SAMPLE).stdout.splitlines()
    assert report[0] == "added 22, updated 0, skipped 3"
    assert "line 8: 'li.wei@example.org' is suppressed (unsubscribed)" in report
    shown = run("subscribers", "show", "li.wei@example.org").stdout
    assert "suppressed: yes, unsubscribed" in shown
    assert "  members: unsubscribed" in shown


def test_unsubscribe_errors(members: str) -> None:
    run("lists", "create", "press")
    run("subscribers", "import", members, SAMPLE)
    fails(
        run("subscribers", "unsubscribe", "nobody@example.org"),
        "no subscriber with the address 'nobody@example.org'",
    )
    fails(
        run("subscribers", "unsubscribe", "li.wei@example.org", "--list", "nope"),
        "no list named 'nope'",
    )
    fails(
        run("subscribers", "unsubscribe", "li.wei@example.org", "--list", "press"),
        "li.wei@example.org is not on the list 'press'",
    )


def test_show(members: str) -> None:
    run("subscribers", "import", members, SAMPLE)
    result = run("subscribers", "show", "Zeynep.Yilmaz@EXAMPLE.com")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "email:      zeynep.yilmaz@example.com"
    assert lines[1] == "name:       Zeynep Yılmaz"
    assert "  organisation: Ankara Dialogue Centre" in lines
    assert "suppressed: no" in lines
    assert any(line.startswith("  members: active (via import") for line in lines)
    assert any(line.endswith("imported members via import (sample.csv:5)") for line in lines)
    fails(
        run("subscribers", "show", "nobody@example.org"),
        "no subscriber with the address 'nobody@example.org'",
    )


def test_export_to_stdout_and_to_a_file(members: str, tmp_path: Path) -> None:
    run("subscribers", "import", members, SAMPLE)
    run("subscribers", "unsubscribe", "j.okafor@example.com", "--list", members)
    result = run("subscribers", "export", members)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["email", "name", "status", "city", "organisation"]
    assert len(rows) == 24
    assert [
        "j.okafor@example.com",
        "James Okafor",
        "unsubscribed",
        "Manchester",
        "Riverside University",
    ] in rows
    assert ["hassan.ali@example.com", "Hassan Ali", "active", "Karachi", ""] in rows

    target = tmp_path / "out" / "members.csv"
    target.parent.mkdir()
    result = run("subscribers", "export", members, "-o", target)
    assert result.stdout == f"exported 23 subscribers of 'members' to {target}\n"
    written = target.read_bytes()
    assert written.startswith(b"\xef\xbb\xbf")  # a BOM, for spreadsheets
    assert list(csv.reader(io.StringIO(written.decode("utf-8-sig")))) == rows
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind

    # The exported file imports back without loss.
    run("lists", "create", "copy")
    assert run("subscribers", "import", "copy", target).stdout == "added 23, updated 0, skipped 0\n"


def test_export_errors(members: str, tmp_path: Path) -> None:
    fails(run("subscribers", "export", "nope"), "no list named 'nope'")
    fails(
        run("subscribers", "export", members, "-o", tmp_path / "no" / "x.csv"),
        f"{tmp_path / 'no'}: no such folder",
    )


def test_export_escapes_formulas(members: str, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv", "email,name,note\na@example.org,=1+1,@SUM(A1)\nb@example.org,-x,+y\n"
    )
    run("subscribers", "import", members, path)
    rows = list(csv.reader(io.StringIO(run("subscribers", "export", members).stdout)))
    assert rows[1:] == [
        ["a@example.org", "'=1+1", "active", "'@SUM(A1)"],
        ["b@example.org", "'-x", "active", "'+y"],
    ]
