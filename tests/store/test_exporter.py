from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from newsletter.store.exporter import export_csv, spreadsheet_safe
from newsletter.store.lists import get_list
from newsletter.store.models import SuppressionReason
from newsletter.store.subscriptions import subscribe, suppress
from tests.store.databases import session_scope
from tests.store.helpers import new_list, run_import, write_csv


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+x", "'+x"),
        ("-x", "'-x"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Marie Dubois", "Marie Dubois"),
        ("a=1", "a=1"),
        ("", ""),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_defused(cell: str, safe: str) -> None:
    assert spreadsheet_safe(cell) == safe


def export(list_name: str) -> list[list[str]]:
    stream = io.StringIO()
    with session_scope() as session:
        export_csv(session, get_list(session, list_name), stream)
    return list(csv.reader(io.StringIO(stream.getvalue())))


def test_export_escapes_formulas_in_every_column(db: str, tmp_path: Path) -> None:
    new_list("members")
    path = write_csv(
        tmp_path / "in.csv",
        "email,name,note,=HYPERLINK()\n"
        'a@example.org,=1+1,+x,"-x"\n'
        'b@example.org,@x,"\tx","\rx"\n'
        "c@example.org,Plain Name,safe,\n",
    )
    assert str(run_import("members", path)[0]) == "added 3, updated 0, skipped 0"
    assert export("members") == [
        ["email", "name", "status", "'=HYPERLINK()", "note"],
        ["a@example.org", "'=1+1", "active", "'-x", "'+x"],
        # The import strips surrounding whitespace, so the tab and CR cells came in as
        # plain "x"; the name still starts with @.
        ["b@example.org", "'@x", "active", "x", "x"],
        ["c@example.org", "Plain Name", "active", "", "safe"],
    ]


def test_export_lists_every_member_with_status_and_known_attributes(
    db: str, tmp_path: Path
) -> None:
    new_list("members")
    new_list("press")
    run_import("press", write_csv(tmp_path / "p.csv", "email,beat\np@example.org,science\n"))
    run_import(
        "members",
        write_csv(
            tmp_path / "m.csv",
            "email,name,city\nb@example.org,B,Paris\na@example.org,A,\nz@example.org,Z,Rome\n",
        ),
    )
    with session_scope(write=True) as session:
        suppress(session, "z@example.org", SuppressionReason.BOUNCED, source="test")
    assert export("members") == [
        ["email", "name", "status", "city"],  # not press's "beat"
        ["b@example.org", "B", "active", "Paris"],
        ["a@example.org", "A", "active", ""],
        ["z@example.org", "Z", "suppressed", "Rome"],
    ]


def test_tab_and_cr_cells_stored_by_other_means_are_escaped_too(db: str) -> None:
    members = new_list("members")
    with session_scope(write=True) as session:
        subscribe(
            session, members, "t@example.org", name="\tTab", attributes={"x": "\rCR"}, source="web"
        )
    assert export("members")[1] == ["t@example.org", "'\tTab", "active", "'\rCR"]
