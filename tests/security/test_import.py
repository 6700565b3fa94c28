"""Attack-run findings about CSV import and export (issue 9, item 7)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from newsletter.store.errors import ImportFileError
from newsletter.store.exporter import export_csv
from newsletter.store.lists import get_list
from newsletter.store.models import Subscriber
from newsletter.store.subscriptions import subscribe
from tests.store.databases import session_scope
from tests.store.helpers import new_list, run_import, table_counts, write_csv

# Valid addresses a spreadsheet would take for formulas, and one that already starts
# with the apostrophe the export adds.
FORMULA_LIKE = ["=f7@example.org", "-x@example.org", "+y@example.org", "'=q@example.org"]


def _export(list_name: str) -> str:
    stream = io.StringIO()
    with session_scope() as session:
        export_csv(session, get_list(session, list_name), stream)
    return stream.getvalue()


def _subscribers() -> dict[str, tuple[str, dict[str, Any]]]:
    with session_scope() as session:
        rows = session.execute(select(Subscriber.email, Subscriber.name, Subscriber.attributes))
        return {email: (name, attributes) for email, name, attributes in rows}


def test_an_export_imports_back_as_the_same_addresses(db: str, tmp_path: Path) -> None:
    members = new_list("members")
    new_list("copy")
    lines = "".join(f"{email},=Name {n},-{n}\n" for n, email in enumerate(FORMULA_LIKE[:3]))
    _, rejections = run_import(
        "members", write_csv(tmp_path / "in.csv", "email,name,@note\n" + lines)
    )
    assert rejections == []
    with session_scope(write=True) as session:
        # A leading apostrophe in a file is read as the export's; this one comes another way.
        subscribe(session, members, FORMULA_LIKE[3], name="'-n", source="web")
    before = _subscribers()
    exported = _export("members")
    # Still defused for spreadsheets: no cell starts with a formula character.
    for row in csv.reader(io.StringIO(exported)):
        assert all(not cell.startswith(("=", "+", "-", "@")) for cell in row)

    summary, rejections = run_import("copy", write_csv(tmp_path / "out.csv", exported))
    assert rejections == []
    assert str(summary) == f"added {len(FORMULA_LIKE)}, updated 0, skipped 0"
    assert sorted(_subscribers()) == sorted(FORMULA_LIKE)
    after = _subscribers()
    for _, attributes in after.values():
        attributes.pop("status")  # the export's status column comes back as an attribute
    assert after == before  # names and attributes unchanged too
    assert _export("copy") == exported


def test_a_bad_byte_on_row_2_is_reported_on_line_2(db: str, tmp_path: Path) -> None:
    new_list("members")
    path = tmp_path / "in.csv"
    path.write_bytes(b"email\nb\xff@example.org\n")
    with pytest.raises(ImportFileError, match=r": line 2: not UTF-8 text"):
        run_import("members", path)


def test_a_bad_byte_far_down_a_big_file_is_reported_on_its_line(db: str, tmp_path: Path) -> None:
    new_list("members")
    path = tmp_path / "in.csv"
    # Line 150,002: the header, 150,000 good rows, then the bad one; multi-byte names
    # make the scan's block boundaries fall inside UTF-8 sequences.
    rows = b"".join(b"r%d@example.org,J\xc3\xbcrgen\n" % number for number in range(150_000))
    path.write_bytes(b"email,name\n" + rows + b"bad\xff@example.org,X\n")
    with pytest.raises(ImportFileError, match=r": line 150002: not UTF-8 text"):
        run_import("members", path)
    assert table_counts()["subscribers"] == 0


def test_rows_after_quoted_line_breaks_are_reported_on_their_physical_line(
    db: str, tmp_path: Path
) -> None:
    new_list("members")
    path = write_csv(
        tmp_path / "in.csv",
        'email,note\na@example.org,"one\ntwo"\nnot-an-address,x\n' + "b@example.org,x,y\n",
    )
    _, rejections = run_import("members", path)
    assert [rejection.split(":")[0] for rejection in rejections] == ["line 4", "line 5"]
