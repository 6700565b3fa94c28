from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select, text

from newsletter.store.errors import ImportFileError, UnknownListError
from newsletter.store.importer import Rejection, RejectLog, import_file
from newsletter.store.models import (
    Event,
    EventKind,
    Membership,
    MembershipStatus,
    Subscriber,
    SuppressionReason,
)
from newsletter.store.subscriptions import suppress, unsubscribe
from tests.store.databases import current_engine, session_scope
from tests.store.helpers import SAMPLE, new_list, run_import, subscriber_id, table_counts, write_csv

SAMPLE_REJECTIONS = [
    "line 11: invalid email 'farah.khan@example': The part after the @-sign is not valid. "
    "It should have a period.",
    "line 15: duplicate of line 3 ('J.Okafor@example.com')",
]


def subscriber(email: str) -> Subscriber:
    with session_scope() as session:
        found = session.scalar(select(Subscriber).where(Subscriber.email_key == email.lower()))
        assert found is not None
        return found


def status(email: str, list_id: int) -> MembershipStatus | None:
    with session_scope() as session:
        return session.scalar(
            select(Membership.status).where(
                Membership.subscriber_id == subscriber_id(email), Membership.list_id == list_id
            )
        )


def test_sample_file_summary_and_rejected_rows(db: str) -> None:
    new_list("members")
    summary, rejections = run_import("members", SAMPLE)
    assert str(summary) == "added 23, updated 0, skipped 2"
    assert rejections == SAMPLE_REJECTIONS
    assert table_counts()["subscribers"] == 23


def test_sample_file_twice_updates_instead_of_adding(db: str) -> None:
    new_list("members")
    run_import("members", SAMPLE)
    summary, rejections = run_import("members", SAMPLE)
    assert str(summary) == "added 0, updated 23, skipped 2"
    assert rejections == SAMPLE_REJECTIONS
    assert table_counts()["subscribers"] == 23


def test_name_and_other_columns_become_subscriber_fields(db: str, tmp_path: Path) -> None:
    new_list("members")
    path = write_csv(
        tmp_path / "in.csv",
        "Name,EMAIL,Organisation,City,\n"
        "  Zeynep Yılmaz , Zeynep@Example.COM ,Ankara Dialogue Centre,,\n",
    )
    assert str(run_import("members", path)[0]) == "added 1, updated 0, skipped 0"
    found = subscriber("zeynep@example.com")
    assert found.email == "Zeynep@example.com"  # normalised: the domain, not the local part
    assert found.email_key == "zeynep@example.com"
    assert found.name == "Zeynep Yılmaz"
    assert found.attributes == {"Organisation": "Ankara Dialogue Centre"}  # empty cells left out


def test_bom_crlf_and_quoted_fields(db: str, tmp_path: Path) -> None:
    new_list("members")
    path = write_csv(
        tmp_path / "in.csv",
        "email,name,note\r\n"
        '"a@example.org","Dubois, Marie","says ""hi"""\r\n'
        'b@example.org,Two Lines,"first\r\nsecond"\r\n'
        "not-an-address,After,the multi-line row\r\n",
        encoding="utf-8-sig",
    )
    summary, rejections = run_import("members", path)
    assert str(summary) == "added 2, updated 0, skipped 1"
    # The quoted field spans lines 3 and 4, so the bad row is on line 5.
    assert rejections == [
        "line 5: invalid email 'not-an-address': An email address must have an @-sign."
    ]
    assert subscriber("a@example.org").name == "Dubois, Marie"
    assert subscriber("a@example.org").attributes == {"note": 'says "hi"'}
    assert subscriber("b@example.org").attributes == {"note": "first\r\nsecond"}


def test_rows_with_the_wrong_number_of_fields_or_no_address_are_rejected(
    db: str, tmp_path: Path
) -> None:
    new_list("members")
    path = write_csv(
        tmp_path / "in.csv",
        "email,name\na@example.org,A,extra\n,No Address\n\nb@example.org\nc@example.org,C\n",
    )
    summary, rejections = run_import("members", path)
    assert str(summary) == "added 1, updated 0, skipped 3"  # the blank line is no row
    assert rejections == [
        "line 2: expected 2 fields, found 3",
        "line 3: no email address",
        "line 5: expected 2 fields, found 1",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,city\nA,B\n", "the header row has no 'email' column (found 'name', 'city')"),
        ("", "the file is empty"),
        ("email,Email\n", "names the column 'Email' twice"),
    ],
)
def test_a_bad_file_is_an_error_and_changes_nothing(
    db: str, tmp_path: Path, content: str, message: str
) -> None:
    new_list("members")
    before = table_counts()
    with pytest.raises(ImportFileError, match=re.escape(message)):
        run_import("members", write_csv(tmp_path / "in.csv", content))
    assert table_counts() == before


def test_missing_file_and_unknown_list_are_errors(db: str, tmp_path: Path) -> None:
    new_list("members")
    with pytest.raises(ImportFileError, match="no such file"):
        run_import("members", tmp_path / "absent.csv")
    with pytest.raises(UnknownListError, match="no list named 'press'"):
        run_import("press", SAMPLE)


def test_invalid_utf8_is_an_error_and_changes_nothing(db: str, tmp_path: Path) -> None:
    new_list("members")
    path = tmp_path / "in.csv"
    path.write_bytes(b"email\na@example.org\nb\xff@example.org\n")
    with pytest.raises(ImportFileError, match="line 3: not UTF-8"):
        run_import("members", path, chunk_size=1)
    assert table_counts()["subscribers"] == 0


@pytest.mark.parametrize(
    ("content", "line"),
    [
        # The decoder reads ahead: a bad byte on line 2 used to be blamed on the header.
        (b"email\nb\xff@example.org\n", 2),
        (b"\xef\xbb\xbfemail\r\na@example.org\r\nb\xff@example.org\r\n", 3),
        (b"email\ra@example.org\rb\xff@example.org\r", 3),  # old Mac line ends
        (b'email,note\na@example.org,"one\ntwo\nthree"\nb@example.org,\xe9\n', 5),
        (b"email\na@example.org\nb@example.org,\xc3", 3),  # cut off at the end of the file
        (b"\xff" + b"email\n", 1),
    ],
)
def test_an_undecodable_byte_is_reported_on_its_own_line(
    db: str, tmp_path: Path, content: bytes, line: int
) -> None:
    new_list("members")
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=f": line {line}: not UTF-8 text"):
        run_import("members", path)


def test_duplicates_are_found_across_chunks_case_insensitively(db: str, tmp_path: Path) -> None:
    new_list("members")
    path = write_csv(
        tmp_path / "in.csv",
        "email\na@example.org\nb@example.org\nc@example.org\nA@EXAMPLE.ORG\nB@example.org\n"
        "b@example.org\n",
    )
    summary, rejections = run_import("members", path, chunk_size=2)
    assert str(summary) == "added 3, updated 0, skipped 3"
    assert rejections == [
        "line 5: duplicate of line 2 ('A@example.org')",
        "line 6: duplicate of line 3 ('B@example.org')",
        "line 7: duplicate of line 3 ('b@example.org')",
    ]


def test_duplicates_of_existing_subscribers_are_found_across_chunks(
    db: str, tmp_path: Path
) -> None:
    new_list("members")
    run_import("members", write_csv(tmp_path / "first.csv", "email\na@example.org\n"))
    path = write_csv(
        tmp_path / "again.csv", "email,name\na@example.org,A\nx@example.org,X\nA@example.org,B\n"
    )
    summary, rejections = run_import("members", path, chunk_size=1)
    assert str(summary) == "added 1, updated 1, skipped 1"
    assert rejections == ["line 4: duplicate of line 2 ('A@example.org')"]
    assert subscriber("a@example.org").name == "A"


def test_an_update_keeps_what_the_file_leaves_empty(db: str, tmp_path: Path) -> None:
    new_list("members")
    run_import(
        "members",
        write_csv(tmp_path / "1.csv", "email,name,city,org\na@example.org,Anna,Paris,Old Org\n"),
    )
    summary, _ = run_import(
        "members",
        write_csv(tmp_path / "2.csv", "email,name,org,phone\na@example.org,,New Org,123\n"),
    )
    assert str(summary) == "added 0, updated 1, skipped 0"
    found = subscriber("a@example.org")
    assert found.name == "Anna"
    assert found.attributes == {"city": "Paris", "org": "New Org", "phone": "123"}


def test_a_subscriber_from_another_list_is_added_to_this_one(db: str, tmp_path: Path) -> None:
    members, press = new_list("members"), new_list("press")
    path = write_csv(tmp_path / "in.csv", "email\na@example.org\n")
    run_import("members", path)
    assert str(run_import("press", path)[0]) == "added 1, updated 0, skipped 0"
    assert status("a@example.org", members) == status("a@example.org", press) == "active"
    assert table_counts()["subscribers"] == 1


def test_reimport_after_unsubscribe_does_not_resubscribe(db: str) -> None:
    members = new_list("members")
    run_import("members", SAMPLE)
    with session_scope(write=True) as session:
        unsubscribe(session, subscriber_id("amina.rahman@example.org"), members, source="test")
    summary, rejections = run_import("members", SAMPLE)
    assert str(summary) == "added 0, updated 22, skipped 3"
    assert "line 2: 'amina.rahman@example.org' unsubscribed from 'members'" in rejections
    assert status("amina.rahman@example.org", members) == MembershipStatus.UNSUBSCRIBED


def test_suppression_holds_across_lists_and_reimports(db: str) -> None:
    members, press = new_list("members"), new_list("press")
    run_import("members", SAMPLE)
    with session_scope(write=True) as session:
        unsubscribe(session, subscriber_id("li.wei@example.org"), None, source="test")
        suppress(session, "r.mensah@example.com", SuppressionReason.BOUNCED, source="test")
    for name in ("members", "press"):
        summary, rejections = run_import(name, SAMPLE)
        assert summary.skipped == 4
        assert "line 8: 'li.wei@example.org' is suppressed (unsubscribed)" in rejections
        assert "line 12: 'r.mensah@example.com' is suppressed (bounced)" in rejections
    assert status("li.wei@example.org", members) == MembershipStatus.UNSUBSCRIBED
    assert status("li.wei@example.org", press) is None


def test_imported_memberships_are_recorded_as_events(db: str) -> None:
    members = new_list("members")
    run_import("members", SAMPLE)
    with session_scope() as session:
        event = session.scalars(
            select(Event).where(Event.subscriber_id == subscriber_id("li.wei@example.org"))
        ).one()
    assert (event.kind, event.list_id, event.source, event.detail) == (
        EventKind.IMPORTED,
        members,
        "import",
        "sample.csv:8",
    )
    assert table_counts()["events"] == 23


def _fail_on_insert_of(db: str, email_key: str) -> None:
    """A trigger in the real database that fails one row's insert."""
    with session_scope(write=True) as session:
        if db.startswith("sqlite"):
            session.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT ON subscribers "
                    f"WHEN NEW.email_key = '{email_key}' "
                    "BEGIN SELECT RAISE(ABORT, 'boom'); END"
                )
            )
        else:
            session.execute(
                text(
                    "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.email_key = '{email_key}' THEN RAISE EXCEPTION 'boom'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            session.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT ON subscribers "
                    "FOR EACH ROW EXECUTE FUNCTION boom()"
                )
            )


def test_a_database_error_midway_leaves_the_store_unchanged(db: str, tmp_path: Path) -> None:
    new_list("members")
    run_import("members", write_csv(tmp_path / "first.csv", "email,name\na@example.org,Old\n"))
    before = table_counts()
    _fail_on_insert_of(db, "y@example.org")
    path = write_csv(
        tmp_path / "in.csv",
        "email,name\na@example.org,New\n"
        + "".join(f"n{i}@example.org,N\n" for i in range(20))
        + "y@example.org,Y\nz@example.org,Z\n",
    )
    with pytest.raises(Exception, match="boom"):
        run_import("members", path, chunk_size=3)  # several chunks are written before y
    assert table_counts() == before
    assert subscriber("a@example.org").name == "Old"


def test_ctrl_c_midway_leaves_the_store_unchanged(db: str, tmp_path: Path) -> None:
    new_list("members")
    before = table_counts()
    path = write_csv(
        tmp_path / "in.csv",
        "email\n"
        + "".join(f"n{i}@example.org\n" for i in range(20))
        + "bad\n"
        + "".join(f"m{i}@example.org\n" for i in range(20)),
    )

    def interrupt(rejection: Rejection) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_file("members", path, interrupt, engine=current_engine(), chunk_size=5)
    assert table_counts() == before


def test_reject_log_replays_what_it_was_given() -> None:
    given = [Rejection(3, "plain"), Rejection(7, "with\na newline and a \\ backslash")]
    with RejectLog() as log:
        for rejection in given:
            log(rejection)
        assert list(log) == given
        assert log.count == 2


@pytest.mark.postgres
def test_an_import_leaves_postgresql_with_statistics_for_its_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without them, a campaign sent right after a big import gets its eligibility query
    # planned as a scan of every subscriber per member (see store.staged).
    from tests.store.databases import isolated_database

    with isolated_database("postgresql", tmp_path, monkeypatch):
        new_list("members")
        run_import("members", SAMPLE)
        with session_scope() as session:
            tuples = dict(
                session.execute(
                    text(
                        "SELECT relname, reltuples FROM pg_class "
                        "WHERE relname IN ('subscribers', 'memberships')"
                    )
                ).all()
            )
    # reltuples is -1 until a table is first analyzed.
    assert tuples == {"subscribers": 23, "memberships": 23}
