"""The one-click unsubscribe (RFC 8058) of a list token, as two prepared statements.

Mail providers post these in bursts right after a campaign goes out, so this path does
the least work: one conditional UPDATE, plus the event INSERT when it changed something.
Through the ORM it cost about 2 ms a request (loading, identity map, flush), and even
Core spent most of its time rebuilding the statements and their cache keys. So each
statement is compiled once per database dialect, and run with `exec_driver_sql` with its
values converted by the columns' own types, as the importer does (store/bulk.py).

It does what `subscriptions.check_token` followed by `subscriptions.unsubscribe` do for a
token with a list (tests/store/test_oneclick.py compares the two): the token must match
an existing membership at its current version (a membership implies its subscriber:
deleting one cascades), the membership becomes unsubscribed, and one event records it; a
repeat changes nothing. Tokens without a list (leave everything) take the ordinary path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from newsletter.core.errors import TokenError
from newsletter.core.tokens import Token
from newsletter.store.models import Event, EventKind, Membership, MembershipStatus
from newsletter.store.types import utcnow

_memberships = cast(Table, Membership.__table__)
_events = cast(Table, Event.__table__)
_same_membership = (
    _memberships.c.list_id == bindparam("list_id"),
    _memberships.c.subscriber_id == bindparam("subscriber_id"),
)


class _Prepared:
    """A statement compiled once per dialect; its values converted by the bind types."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._by_dialect: dict[str, tuple[str, tuple[str, ...], dict[str, Any], bool]] = {}
        self._lock = threading.Lock()

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> Any:
        sql, order, processors, positional = self._compiled(connection.dialect)
        converted = {
            name: processors[name](value) if name in processors else value
            for name, value in values.items()
        }
        params: Any = tuple(converted[name] for name in order) if positional else converted
        return connection.exec_driver_sql(sql, params)

    def _compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...], dict[str, Any], bool]:
        found = self._by_dialect.get(dialect.name)
        if found is not None:
            return found
        with self._lock:
            compiled = cast(SQLCompiler, self.statement.compile(dialect=dialect))
            processors: dict[str, Callable[[Any], Any]] = {}
            for name, bind in compiled.binds.items():
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
            order = tuple(compiled.positiontup or ())
            found = (str(compiled), order, processors, compiled.positional)
            self._by_dialect[dialect.name] = found
        return found


_LEAVE = _Prepared(
    update(_memberships)
    .where(
        *_same_membership,
        _memberships.c.version == bindparam("version"),
        _memberships.c.status != bindparam("left", MembershipStatus.UNSUBSCRIBED),
    )
    .values(status=bindparam("status"), updated_at=bindparam("now"))
)
_RECORD = _Prepared(
    insert(_events).values(
        subscriber_id=bindparam("subscriber_id"),
        list_id=bindparam("list_id"),
        kind=bindparam("kind"),
        at=bindparam("now"),
        source=bindparam("source"),
        detail=bindparam("detail"),
    )
)
_VERSION = _Prepared(select(_memberships.c.version).where(*_same_membership))


def unsubscribe_list_token(
    connection: Connection, token: Token, *, source: str, detail: str | None
) -> bool:
    """Leave the token's list; whether anything changed. TokenError if it is not current.

    Runs in the caller's (write) transaction.
    """
    if token.list_id == 0:
        raise ValueError("a token without a list takes subscriptions.unsubscribe")
    key = {"list_id": token.list_id, "subscriber_id": token.subscriber_id}
    now = utcnow()
    changed = _LEAVE.execute(
        connection,
        {
            **key,
            "version": token.version,
            "left": MembershipStatus.UNSUBSCRIBED,
            "status": MembershipStatus.UNSUBSCRIBED,
            "now": now,
        },
    ).rowcount
    if changed:
        _RECORD.execute(
            connection,
            {
                **key,
                "kind": EventKind.UNSUBSCRIBED,
                "now": now,
                "source": source,
                "detail": detail,
            },
        )
        return True
    version = _VERSION.execute(connection, key).scalar_one_or_none()
    if version is None or version != token.version:
        raise TokenError("token is no longer valid")
    return False
