"""Set-based building blocks for bulk work (the importer), on SQLite and PostgreSQL alike.

SQLAlchemy's executemany prepares every row's parameters in Python (a few microseconds a
row and statement); at a million rows and four statements that alone would take most of
the time budget. `BulkStatement` compiles a statement once and hands the rows straight to
the driver's executemany; the caller converts values that need it (JSON, timestamps)
with the column type's own bind processor, timestamps once per import rather than per row.

`BulkInsert` does the same for inserts, except on PostgreSQL, where executemany still
costs a server round of bind-execute per row (about 50 µs, ten times SQLite's cost);
there it streams the rows with COPY, the server's bulk-load path.

`one_of` is `column IN (values)` with the values in a single parameter (an array on
PostgreSQL, a JSON array unpacked by json_each on SQLite), so a lookup of 5,000 keys is
one bound value rather than 5,000.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, Table, any_, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.schema import Column


class BulkStatement:
    def __init__(self, conn: Connection, statement: Insert | Update, keys: Sequence[str]) -> None:
        compiled = statement.compile(
            dialect=conn.dialect, column_keys=list(keys), for_executemany=True
        )
        self._sql = str(compiled)
        self._keys = tuple(keys)
        order = compiled.positiontup
        # Every value must come from the rows: the compiled SQL is run as it is, so a
        # literal bound in the statement itself would be left without a value.
        missing = set(order if order is not None else compiled.binds) - set(keys)
        if missing:
            raise ValueError(f"no values given for {sorted(missing)}")
        self._positions = None if order is None else tuple(self._keys.index(key) for key in order)

    def execute(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run for each row; a row holds the values in the order of `keys`."""
        if not rows:
            return
        params: Sequence[Any]
        if self._positions is None:
            params = [dict(zip(self._keys, row, strict=True)) for row in rows]
        elif self._positions == tuple(range(len(self._keys))):
            params = rows
        else:
            params = [tuple(row[i] for i in self._positions) for row in rows]
        conn.exec_driver_sql(self._sql, params)


class BulkInsert:
    def __init__(self, conn: Connection, table: Table, keys: Sequence[str]) -> None:
        self._copy: str | None = None
        self._statement: BulkStatement | None = None
        if conn.dialect.name == "postgresql":
            quote = conn.dialect.identifier_preparer
            columns = ", ".join(quote.quote(key) for key in keys)
            self._copy = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
        else:
            self._statement = BulkStatement(conn, insert(table), keys)

    def execute(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert the rows; a row holds the values in the order of `keys`."""
        if not rows:
            return
        if self._statement is not None:
            self._statement.execute(conn, rows)
            return
        # The driver's own connection, in the same transaction as everything else.
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(self._copy) as copy:
            for row in rows:
                copy.write_row(row)


def bind_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """The column type's conversion of a Python value for the driver (identity if none)."""
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else _identity


def _identity(value: Any) -> Any:
    return value


def one_of(
    column: Column[Any], values: Sequence[str] | Sequence[int], dialect: Dialect
) -> ColumnElement[bool]:
    item_type = Integer() if isinstance(column.type, Integer) else String()
    if dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(item_type)))
    unpacked = func.json_each(
        bindparam(None, json.dumps(list(values)), type_=String())
    ).table_valued("value")
    return column.in_(select(unpacked.c.value))
