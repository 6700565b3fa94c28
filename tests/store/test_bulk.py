from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, select, update

from newsletter.store.bulk import BulkInsert, BulkStatement, bind_processor, one_of
from newsletter.store.models import Base
from tests.store.databases import session_scope

LISTS = Base.metadata.tables["lists"]
WHEN = datetime(2024, 5, 2, 12, 30, tzinfo=UTC)


def test_bulk_insert_update_and_one_of(db: str) -> None:
    with session_scope(write=True) as session:
        conn = session.connection()
        at = bind_processor(LISTS.c.created_at, conn.dialect)(WHEN)
        # Keys in an order other than the table's, to exercise the reordering.
        BulkInsert(conn, LISTS, ["name", "id", "description", "created_at"]).execute(
            conn, [(f"list{i}", i, f"number {i}", at) for i in range(1, 8)]
        )
        statement = (
            update(LISTS)
            .where(LISTS.c.name == bindparam("which"))
            .values(description=bindparam("text"))
        )
        BulkStatement(conn, statement, ["which", "text"]).execute(
            conn, [("list3", "three"), ("list4", "four")]
        )
        BulkInsert(conn, LISTS, ["id", "name", "description", "created_at"]).execute(conn, [])
    with session_scope() as session:
        conn = session.connection()
        by_id = select(LISTS.c.id).where(one_of(LISTS.c.id, [2, 3, 99], conn.dialect))
        assert sorted(conn.execute(by_id).scalars()) == [2, 3]
        by_name = select(LISTS.c.description).where(
            one_of(LISTS.c.name, ["list3", "list7", "nope"], conn.dialect)
        )
        assert sorted(conn.execute(by_name).scalars()) == ["number 7", "three"]
        assert conn.execute(select(LISTS.c.description).where(LISTS.c.id == 4)).scalar() == "four"
        assert (
            conn.execute(select(LISTS.c.id).where(one_of(LISTS.c.id, [], conn.dialect))).all() == []
        )
        created = conn.execute(select(LISTS.c.created_at).where(LISTS.c.id == 1)).scalar_one()
    assert created == WHEN


def test_a_statement_with_its_own_values_is_refused(db: str) -> None:
    with session_scope() as session:
        conn = session.connection()
        statement = update(LISTS).where(LISTS.c.name == "x").values(description="y")
        with pytest.raises(ValueError, match="no values given for"):
            BulkStatement(conn, statement, [])
