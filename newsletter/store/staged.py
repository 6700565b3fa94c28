"""An import written in short transactions and made visible at once by a final switch.

SQLite has one writer at a time, so an import in one long transaction would hold every
one-click unsubscribe for as long as it runs. Instead an import works in three phases:

1. Staging, chunk by chunk, each chunk in a transaction of its own (a few ms): new
   subscribers go into `subscribers` (they need their ids, and their unique address keeps
   a concurrent sign-up from creating a second row), and every subscriber the import
   touches gets an `import_rows` row: its line (how later duplicates are found), whether
   it joins the list, and its new name and attributes. Nothing a sender, a list count, an
   export or a public page reads changes: they all start from `memberships`, and a new
   subscriber without one is on no list.
2. The switch: one transaction marks the import committed and inserts its memberships
   (INSERT … SELECT from the staged rows: about 0.5 s for a million on SQLite, in the
   database alone). This is the moment the import becomes visible, all of it at once.
3. Rolling forward, chunk by chunk again: the staged name and attribute changes of
   existing subscribers and the `imported` events, then the staged rows go. Only a
   committed import gets here, so its events appear only if it committed.

A failed import (an exception, Ctrl-C) is rolled back chunk by chunk: its new subscribers
(still on no list) and its staged rows are deleted. After kill -9 the `imports` row says
what was left: the next import finds it, takes it over once its owner is gone (same host,
process no longer running) or its lease has run out, and rolls it back (running) or
forward (committed). One import runs at a time (`imports.slot` is unique), so two
imports never stage the same subscriber.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    insert,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from newsletter.core.processes import owner_is_gone, this_runner
from newsletter.store.bulk import BulkInsert, BulkStatement, bind_processor, one_of
from newsletter.store.errors import ImportBusyError, StoreError
from newsletter.store.models import (
    Base,
    EventKind,
    ImportRowKind,
    ImportState,
    MembershipStatus,
)
from newsletter.store.types import UTCDateTime, utcnow

# Renewed with every chunk written (a chunk takes well under a second); a process on
# another host that stops renewing it for this long is taken to be gone.
LEASE_SECONDS = 120.0
# Rows per transaction when rolling forward or back.
FINISH_CHUNK = 1000
SOURCE = "import"

_imports = Base.metadata.tables["imports"]
_staged = Base.metadata.tables["import_rows"]
_subscribers = Base.metadata.tables["subscribers"]
_memberships = Base.metadata.tables["memberships"]
_events = Base.metadata.tables["events"]

Turn = Callable[[], AbstractContextManager[object]]


class ImportTakenOver(StoreError):
    def __init__(self) -> None:
        super().__init__(
            "this import stopped renewing its lease and was rolled back by another process; "
            "nothing of it was imported"
        )


@dataclass
class StagedImport:
    conn: Connection
    id: int
    list_id: int
    origin: str
    owner: str
    started_at: datetime
    turn: Turn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction: on SQLite (WAL) it neither waits for nor blocks writers."""
        self.conn.execution_options(sqlite_begin="")
        with self.conn.begin():
            yield self.conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A short write transaction that also renews the lease (and proves it is still ours)."""
        with _write(self.conn, self.turn):
            renewed = self.conn.execute(
                update(_imports)
                .where(
                    _imports.c.id == self.id,
                    _imports.c.owner == self.owner,
                )
                .values(lease_until=_lease_end())
            )
            if renewed.rowcount != 1:
                raise ImportTakenOver
            yield self.conn

    def stage(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """(subscriber id, line, kind, name or None, attributes or None) within writing()."""
        _stage_statement(conn).execute(conn, [(self.id, *row) for row in rows])

    def switch(self) -> None:
        """The one transaction that makes the import visible: committed from here on."""
        with self.writing() as conn:
            switched = conn.execute(
                update(_imports)
                .where(_imports.c.id == self.id, _imports.c.state == ImportState.RUNNING.value)
                .values(state=ImportState.COMMITTED.value)
            )
            if switched.rowcount != 1:
                raise ImportTakenOver
            conn.execute(_insert_memberships(conn, self))

    def finish(self) -> None:
        """After the switch: the staged updates and events, then the slot is free again."""
        _roll_forward(self)
        self.release()
        if self.conn.dialect.name == "postgresql":
            # Statistics now, not whenever autovacuum gets round to it (if it runs at all):
            # without them a campaign sent right after a big import has its per-batch
            # eligibility query planned as a scan of every subscriber per member (measured:
            # 12.7 s per batch of 101 at 2,000 subscribers, against 1.2 ms after ANALYZE).
            with self.conn.begin():
                self.conn.execute(text("ANALYZE subscribers, memberships"))

    def abort(self) -> None:
        _roll_back(self)
        self.release()

    def release(self) -> None:
        with _write(self.conn, self.turn):
            self.conn.execute(
                delete(_imports).where(_imports.c.id == self.id, _imports.c.owner == self.owner)
            )


def begin_import(
    conn: Connection, list_id: int, origin: str, *, turn: Turn | None = None
) -> StagedImport:
    """Claim the import slot, first finishing an abandoned import that still holds it."""
    turn = turn or nullcontext
    owner = this_runner()
    for _ in range(3):
        started = utcnow()
        try:
            with _write(conn, turn):
                import_id = conn.execute(
                    insert(_imports)
                    .values(
                        slot=1,
                        list_id=list_id,
                        state=ImportState.RUNNING.value,
                        origin=origin,
                        owner=owner,
                        started_at=started,
                        lease_until=_lease_end(),
                    )
                    .returning(_imports.c.id)
                ).scalar_one()
            return StagedImport(conn, import_id, list_id, origin, owner, started, turn)
        except IntegrityError:
            recover_abandoned(conn, turn=turn, busy_error=True)
    raise ImportBusyError("another import keeps starting; try again in a moment")


def recover_abandoned(
    conn: Connection, *, turn: Turn | None = None, busy_error: bool = False
) -> bool:
    """Roll back (or, if it had committed, forward) an import whose owner is gone.

    Returns whether there was one. A live import is left alone; with `busy_error` it is
    reported as an ImportBusyError instead.
    """
    turn = turn or nullcontext
    conn.execution_options(sqlite_begin="")
    with conn.begin():
        found = conn.execute(select(_imports)).mappings().first()
    if found is None:
        return False
    now = utcnow()
    if found["lease_until"] > now and not owner_is_gone(found["owner"]):
        if busy_error:
            raise ImportBusyError(
                f"another import is running (from {found['origin']!r} by {found['owner']}, "
                f"started {found['started_at']:%Y-%m-%d %H:%M:%S} UTC); "
                "try again when it has finished"
            )
        return False
    owner = this_runner()
    with _write(conn, turn):
        taken = conn.execute(
            update(_imports)
            .where(_imports.c.id == found["id"], _imports.c.owner == found["owner"])
            .values(owner=owner, lease_until=_lease_end())
        )
    if taken.rowcount != 1:
        return True  # another process took it over first
    run = StagedImport(
        conn, found["id"], found["list_id"], found["origin"], owner, found["started_at"], turn
    )
    if found["state"] == ImportState.COMMITTED:
        _roll_forward(run)
    else:
        _roll_back(run)
    run.release()
    return True


@contextmanager
def _write(conn: Connection, turn: Turn) -> Iterator[Connection]:
    with turn():
        conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


def _lease_end() -> datetime:
    return utcnow() + timedelta(seconds=LEASE_SECONDS)


def _stage_statement(conn: Connection) -> BulkInsert:
    return BulkInsert(
        conn, _staged, ["import_id", "subscriber_id", "line", "kind", "name", "attributes"]
    )


def _insert_memberships(conn: Connection, run: StagedImport) -> Any:
    joining = select(
        literal(run.list_id, Integer),
        _staged.c.subscriber_id,
        literal(MembershipStatus.ACTIVE.value, String),
        literal(SOURCE, String),
        literal(1, Integer),
        bindparam("created", run.started_at, type_=UTCDateTime()),
        bindparam("updated", run.started_at, type_=UTCDateTime()),
    ).where(_staged.c.import_id == run.id, _staged.c.kind != ImportRowKind.MEMBER.value)
    columns = [
        "list_id",
        "subscriber_id",
        "status",
        "source",
        "version",
        "created_at",
        "updated_at",
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    # Someone who signed up on the web meanwhile keeps the membership they made.
    return dialect.insert(_memberships).from_select(columns, joining).on_conflict_do_nothing()


def _chunks(run: StagedImport) -> Iterator[list[Any]]:
    """The import's staged rows in subscriber-id batches (keyset: each batch costs the same)."""
    last = 0
    while True:
        with run.reading() as conn:
            batch = list(
                conn.execute(
                    select(
                        _staged.c.subscriber_id,
                        _staged.c.kind,
                        _staged.c.name,
                        _staged.c.attributes,
                    )
                    .where(_staged.c.import_id == run.id, _staged.c.subscriber_id > last)
                    .order_by(_staged.c.subscriber_id)
                    .limit(FINISH_CHUNK)
                )
            )
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def _in_batch(run: StagedImport, batch: list[Any]) -> Any:
    return and_(
        _staged.c.import_id == run.id,
        _staged.c.subscriber_id >= batch[0][0],
        _staged.c.subscriber_id <= batch[-1][0],
    )


def _roll_forward(run: StagedImport) -> None:
    """Apply the staged updates and write the events, one batch per transaction."""
    dialect = run.conn.dialect
    to_json = bind_processor(_subscribers.c.attributes, dialect)
    at = bind_processor(_subscribers.c.updated_at, dialect)(run.started_at)
    refresh = BulkStatement(
        run.conn,
        update(_subscribers)
        .where(_subscribers.c.id == bindparam("sid"))
        .values(
            name=bindparam("new_name"),
            attributes=bindparam("new_attributes"),
            updated_at=bindparam("at"),
        ),
        ["new_name", "new_attributes", "at", "sid"],
    )
    # Only for the memberships the switch did insert (created_at and source say so), not
    # for one that someone made on the web in the meantime.
    ours = exists().where(
        _memberships.c.list_id == run.list_id,
        _memberships.c.subscriber_id == _staged.c.subscriber_id,
        _memberships.c.source == SOURCE,
        _memberships.c.created_at == bindparam("created", run.started_at, type_=UTCDateTime()),
    )
    for batch in _chunks(run):
        changes = [
            (name, to_json(attributes), at, sid)
            for sid, _kind, name, attributes in batch
            if attributes is not None
        ]
        with run.writing() as conn:
            refresh.execute(conn, changes)
            events = select(
                _staged.c.subscriber_id,
                literal(run.list_id, Integer),
                literal(EventKind.IMPORTED.value, String),
                bindparam("at", run.started_at, type_=UTCDateTime()),
                literal(SOURCE, String),
                literal(f"{run.origin}:", String) + cast(_staged.c.line, String),
            ).where(_in_batch(run, batch), _staged.c.kind != ImportRowKind.MEMBER.value, ours)
            conn.execute(
                insert(_events).from_select(
                    ["subscriber_id", "list_id", "kind", "at", "source", "detail"], events
                )
            )
            conn.execute(delete(_staged).where(_in_batch(run, batch)))


def _roll_back(run: StagedImport) -> None:
    """Delete what the import staged: its staged rows and the subscribers it created."""
    with _foreign_keys_unchecked(run.conn):
        for batch in _chunks(run):
            created = [sid for sid, kind, _name, _attributes in batch if kind == ImportRowKind.NEW]
            with run.writing() as conn:
                if created:
                    # Unless someone put the address on a list (or an event on it) meanwhile.
                    conn.execute(
                        delete(_subscribers).where(
                            one_of(_subscribers.c.id, created, conn.dialect),
                            ~exists().where(_memberships.c.subscriber_id == _subscribers.c.id),
                            ~exists().where(_events.c.subscriber_id == _subscribers.c.id),
                        )
                    )
                conn.execute(delete(_staged).where(_in_batch(run, batch)))


@contextmanager
def _foreign_keys_unchecked(conn: Connection) -> Iterator[None]:
    """SQLite only: deleting subscribers without scanning tables that reference them.

    SQLite checks every subscriber deleted against each referencing table, and
    `deliveries` has no index on its subscriber_id: each check would read the whole
    table. The subscribers deleted here are on no list and have no events, so nothing
    refers to them (a delivery, a forward need a membership first). The pragma cannot
    change inside a transaction, so it is set between them, and set back after.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        driver.execute("PRAGMA foreign_keys=ON")
