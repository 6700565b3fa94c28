"""A big import never holds the write lock for long, and stays all or nothing (issue 9, item 4).

The import stages its rows in short transactions and makes them visible in one switch
(newsletter/store/staged.py). These tests look at the store between two of its chunks, kill
a real `newsletter subscribers import` with SIGKILL half-way, and finish an import whose
process died after the switch.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from newsletter.store.errors import ImportBusyError
from newsletter.store.exporter import export_csv
from newsletter.store.importer import Rejection, import_file
from newsletter.store.lists import get_list, list_summary
from newsletter.store.models import (
    Event,
    Import,
    ImportRow,
    Membership,
    MembershipStatus,
    Subscriber,
)
from newsletter.store.staged import StagedImport
from newsletter.store.subscriptions import subscribe, unsubscribe
from tests.store.databases import current_engine, session_scope
from tests.store.helpers import (
    eligible_count,
    new_list,
    run_import,
    subscriber_id,
    table_counts,
    write_csv,
)

NEWSLETTER = Path(sys.executable).with_name("newsletter")


def _count(model: type[object]) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[arg-type]


def _visible(list_name: str) -> tuple[int, int, int, int]:
    """What senders, list counts, exports and the audit trail show of a list."""
    with session_scope() as session:
        mailing_list = get_list(session, list_name)
        summary = list_summary(session, mailing_list.id)
        assert summary is not None
        stream = io.StringIO()
        exported = export_csv(session, mailing_list, stream)
        events = session.scalar(
            select(func.count()).select_from(Event).where(Event.list_id == mailing_list.id)
        )
        return (
            eligible_count(session, mailing_list.id),
            sum(summary.counts.values()),
            exported,
            events or 0,
        )


def _with_a_bad_row_per_chunk(path: Path, rows: int, chunk: int) -> Path:
    # Each chunk reports a rejection after it is written: the callback then runs between chunks.
    lines = ["email,name"]
    for number in range(rows):
        lines.append(f"n{number}@example.org,N {number}")
        if number % (chunk - 1) == chunk - 2:
            lines.append("not-an-address,Bad")
    return write_csv(path, "\n".join(lines) + "\n")


def test_between_chunks_nothing_is_visible_and_the_lock_is_free(db: str, tmp_path: Path) -> None:
    new_list("members")
    new_list("press")
    run_import("members", write_csv(tmp_path / "old.csv", "email,name\nold@example.org,Old\n"))
    old = subscriber_id("old@example.org")
    before = _visible("members")
    path = _with_a_bad_row_per_chunk(tmp_path / "in.csv", 40, chunk=5)
    path.write_text(path.read_text() + "old@example.org,Renamed\n")
    seen: list[tuple[int, int, int, int]] = []
    staged: list[int] = []

    def between_chunks(rejection: Rejection) -> None:
        seen.append(_visible("members"))
        staged.append(_count(ImportRow))
        with pytest.raises(ImportBusyError, match="another import is running"):
            run_import("press", write_csv(tmp_path / "other.csv", "email\nx@example.org\n"))
        if db.startswith("sqlite"):
            # Old behaviour: one transaction held the write lock for the whole import.
            raw = sqlite3.connect(db.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
            try:
                raw.execute("BEGIN IMMEDIATE")
                raw.execute("ROLLBACK")
            finally:
                raw.close()

    summary = import_file("members", path, between_chunks, engine=current_engine(), chunk_size=5)
    assert str(summary) == "added 40, updated 1, skipped 10"
    # Each callback came after a chunk was staged, yet nothing of it showed.
    assert staged == [4 * chunk for chunk in range(1, 11)]
    assert set(seen) == {before}
    with session_scope() as session:
        assert session.get(Subscriber, old).name == "Renamed"  # type: ignore[union-attr]
    assert _visible("members") == (41, 41, 41, 41)
    assert _count(ImportRow) == _count(Import) == 0


def test_a_one_click_during_an_import_is_written_at_once(db: str, tmp_path: Path) -> None:
    members = new_list("members")
    run_import("members", write_csv(tmp_path / "old.csv", "email\nold@example.org\n"))
    old = subscriber_id("old@example.org")
    path = _with_a_bad_row_per_chunk(tmp_path / "in.csv", 20, chunk=5)
    clicked: list[bool] = []

    def between_chunks(rejection: Rejection) -> None:
        if not clicked:
            with session_scope(write=True) as session:
                clicked.append(unsubscribe(session, old, members, source="one-click"))

    import_file("members", path, between_chunks, engine=current_engine(), chunk_size=5)
    assert clicked == [True]
    with session_scope() as session:
        status = session.scalar(
            select(Membership.status).where(
                Membership.subscriber_id == old, Membership.list_id == members
            )
        )
    assert status == MembershipStatus.UNSUBSCRIBED


def test_a_sign_up_during_the_import_keeps_its_membership(db: str, tmp_path: Path) -> None:
    members = new_list("members")
    path = _with_a_bad_row_per_chunk(tmp_path / "in.csv", 20, chunk=5)
    signed_up: list[int] = []

    def between_chunks(rejection: Rejection) -> None:
        if not signed_up:
            # n0 was staged by the first chunk: a new subscriber on no list yet.
            with session_scope(write=True) as session:
                signed_up.append(
                    subscribe(session, members, "n0@example.org", source="web").subscriber_id
                )

    assert (
        import_file("members", path, between_chunks, engine=current_engine(), chunk_size=5).added
        == 20
    )
    with session_scope() as session:
        membership = session.scalar(
            select(Membership).where(Membership.subscriber_id == signed_up[0])
        )
        kinds = session.scalars(select(Event.kind).where(Event.subscriber_id == signed_up[0])).all()
    assert membership is not None and membership.source == "web"
    assert kinds == ["subscribed"]  # no "imported" event for a membership the import did not make
    assert _visible("members") == (20, 20, 20, 20)


def test_a_failed_import_keeps_a_subscriber_who_signed_up_meanwhile(
    db: str, tmp_path: Path
) -> None:
    members = new_list("members")
    path = _with_a_bad_row_per_chunk(tmp_path / "in.csv", 20, chunk=5)
    calls: list[int] = []

    def between_chunks(rejection: Rejection) -> None:
        calls.append(1)
        if len(calls) == 1:
            with session_scope(write=True) as session:
                subscribe(session, members, "n0@example.org", source="web")
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file("members", path, between_chunks, engine=current_engine(), chunk_size=5)
    assert table_counts() == {
        "subscribers": 1,
        "lists": 1,
        "memberships": 1,
        "suppressions": 0,
        "events": 1,
    }
    assert _visible("members") == (1, 1, 1, 1)
    assert _count(ImportRow) == _count(Import) == 0


def test_an_import_killed_half_way_shows_nothing_and_the_next_one_cleans_up(
    db: str, tmp_path: Path
) -> None:
    new_list("members")
    run_import("members", write_csv(tmp_path / "old.csv", "email,name\nold@example.org,Old\n"))
    before = _visible("members")
    big = tmp_path / "big.csv"
    with big.open("w") as handle:
        handle.write("email,name\n")
        handle.writelines(f"bulk{number}@example.org,Bulk {number}\n" for number in range(300_000))
    importer = subprocess.Popen(
        [str(NEWSLETTER), "subscribers", "import", "members", str(big)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while _count(ImportRow) < 10_000:
            assert importer.poll() is None, importer.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        importer.send_signal(signal.SIGKILL)
        importer.wait()
    assert importer.returncode == -signal.SIGKILL

    # Killed half-way: its rows are in the database, and none of them shows.
    assert _count(Import) == 1 and _count(ImportRow) >= 10_000
    assert _count(Subscriber) > 1
    assert _visible("members") == before
    with session_scope() as session:
        assert session.get(Subscriber, subscriber_id("old@example.org")).name == "Old"  # type: ignore[union-attr]

    summary, _ = run_import(
        "members", write_csv(tmp_path / "next.csv", "email,name\nnext@example.org,Next\n")
    )
    assert str(summary) == "added 1, updated 0, skipped 0"
    assert _count(Import) == _count(ImportRow) == 0
    assert table_counts() == {
        "subscribers": 2,
        "lists": 1,
        "memberships": 2,
        "suppressions": 0,
        "events": 2,
    }


def _a_gone_process() -> str:
    # The owner name of a process that has exited and been reaped.
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()
    return f"{socket.gethostname()}:{probe.pid}"


def test_an_import_that_died_after_its_switch_is_finished_by_the_next(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = new_list("members")
    run_import("members", write_csv(tmp_path / "old.csv", "email,name\nold@example.org,Old\n"))

    def die(self: StagedImport) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(StagedImport, "finish", die)
    path = write_csv(
        tmp_path / "in.csv", "email,name\nold@example.org,Renamed\nnew@example.org,New\n"
    )
    with pytest.raises(KeyboardInterrupt):
        run_import("members", path)
    monkeypatch.undo()
    # Committed: the memberships show; the events and the rename are still staged.
    assert _visible("members")[:3] == (2, 2, 2)
    with session_scope(write=True) as session:
        session.execute(update(Import).values(owner=_a_gone_process()))

    run_import("members", write_csv(tmp_path / "next.csv", "email\nnext@example.org\n"))
    assert _visible("members") == (3, 3, 3, 3)
    with session_scope() as session:
        assert session.get(Subscriber, subscriber_id("old@example.org")).name == "Renamed"  # type: ignore[union-attr]
        details = session.scalars(
            select(Event.detail).where(Event.list_id == members).order_by(Event.id)
        ).all()
    assert details == ["old.csv:2", "in.csv:3", "next.csv:2"]
    assert _count(ImportRow) == _count(Import) == 0
