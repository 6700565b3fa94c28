"""CSV import into a list: streamed, all-or-nothing, losing nothing without saying so.

The file is read with csv.reader and handled in chunks. Per chunk the work is set-based:
one query each for suppressions, existing subscribers, earlier duplicates and
memberships, then bulk inserts and updates (bulk.py: executemany, COPY on PostgreSQL).
Nothing is kept across chunks in Python: duplicates further down the file are found
through a temporary table (subscriber id -> first line) in the same transaction, which
the database keeps on disk. Rejected rows go to a sink chunk by chunk, so memory stays
flat however many there are.

Counting, from the list's point of view: *added* rows put an address on the list (a new
subscriber, or one already on another list); *updated* rows were already on the list and
had their name and attributes refreshed; *skipped* rows are the rejected ones, each
reported with its line and reason. An address that unsubscribed from this list or is
suppressed is skipped untouched: an import never brings anyone back.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from newsletter.store.addresses import InvalidAddress, normalise
from newsletter.store.bulk import BulkInsert, BulkStatement, bind_processor, one_of
from newsletter.store.engine import session_scope
from newsletter.store.errors import ImportFileError
from newsletter.store.lists import get_list
from newsletter.store.models import (
    Base,
    EventKind,
    MailingList,
    MembershipStatus,
)
from newsletter.store.types import utcnow

DEFAULT_CHUNK = 5000
SOURCE = "import"

_subscribers = Base.metadata.tables["subscribers"]
_memberships = Base.metadata.tables["memberships"]
_suppressions = Base.metadata.tables["suppressions"]
_events = Base.metadata.tables["events"]

# The subscribers this import has already handled, with the line that did it: how a
# duplicate further down the file is recognised. Keyed by subscriber id (an integer,
# mostly ascending) it is far cheaper to fill than a text key would be. A temporary table
# is private to its connection, so concurrent imports cannot see each other's.
_seen = Table(
    "newsletter_import_seen",
    MetaData(),
    Column("subscriber_id", Integer, primary_key=True, autoincrement=False),
    Column("line", Integer, nullable=False),
    prefixes=["TEMPORARY"],
)


class _Statements:
    def __init__(self, conn: Connection) -> None:
        self.add_subscriber = BulkInsert(
            conn,
            _subscribers,
            ["id", "email", "email_key", "name", "attributes", "created_at", "updated_at"],
        )
        self.update_subscriber = BulkStatement(
            conn,
            update(_subscribers)
            .where(_subscribers.c.id == bindparam("sid"))
            .values(
                name=bindparam("new_name"),
                attributes=bindparam("new_attributes"),
                updated_at=bindparam("at"),
            ),
            ["sid", "new_name", "new_attributes", "at"],
        )
        self.add_membership = BulkInsert(
            conn,
            _memberships,
            ["list_id", "subscriber_id", "status", "source", "version", "created_at", "updated_at"],
        )
        self.add_event = BulkInsert(
            conn, _events, ["subscriber_id", "list_id", "kind", "at", "source", "detail"]
        )
        self.mark_seen = BulkInsert(conn, _seen, ["subscriber_id", "line"])


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


RejectSink = Callable[[Rejection], None]


@dataclass
class ImportSummary:
    added: int = 0
    updated: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return f"added {self.added}, updated {self.updated}, skipped {self.skipped}"


class RejectLog:
    """Collects rejections in a temporary file, to be replayed after the summary.

    The summary comes first in the report but is only known at the end; spooling to a
    file rather than a list keeps a file with a million bad rows from filling memory.
    """

    def __init__(self) -> None:
        # Lives as long as the log; closed by close() or the context manager.
        self._file = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=1 << 20, mode="w+", encoding="utf-8"
        )
        self.count = 0

    def __call__(self, rejection: Rejection) -> None:
        reason = rejection.reason.replace("\\", "\\\\").replace("\n", "\\n")
        self._file.write(f"{rejection.line}\t{reason}\n")
        self.count += 1

    def __iter__(self) -> Iterator[Rejection]:
        self._file.seek(0)
        for entry in self._file:
            line, _, reason = entry.rstrip("\n").partition("\t")
            yield Rejection(int(line), reason.replace("\\n", "\n").replace("\\\\", "\\"))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RejectLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True)
class _Columns:
    width: int
    email: int
    name: int | None
    attributes: list[tuple[int, str]]


class _Row(NamedTuple):
    line: int
    email: str
    key: str
    name: str
    attributes: dict[str, str]


@dataclass
class _Import:
    conn: Connection
    mailing_list: MailingList
    columns: _Columns
    origin: str  # the file name, for event details
    on_reject: RejectSink
    statements: _Statements
    to_json: Callable[[Any], Any]
    now_db: Any  # this import's timestamp, converted for the driver once
    summary: ImportSummary = field(default_factory=ImportSummary)

    def reject(self, rejections: list[Rejection]) -> None:
        self.summary.skipped += len(rejections)
        for rejection in sorted(rejections, key=lambda r: r.line):
            self.on_reject(rejection)


def import_file(
    list_name: str,
    path: Path,
    on_reject: RejectSink,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    url: str | None = None,
) -> ImportSummary:
    """Import `path` into the list `list_name` in one transaction of its own."""
    with session_scope(write=True, url=url) as session:
        return import_csv(
            session, get_list(session, list_name), path, on_reject, chunk_size=chunk_size
        )


def import_csv(
    session: Session,
    mailing_list: MailingList,
    path: Path,
    on_reject: RejectSink,
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> ImportSummary:
    """Import `path` within the caller's transaction; roll it back if this raises."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise ImportFileError(f"{path}: {exc.strerror or exc}") from None
    with handle:
        conn = session.connection()
        _seen.drop(conn, checkfirst=True)
        _seen.create(conn)
        reader = csv.reader(handle)
        job = _Import(
            conn=conn,
            mailing_list=mailing_list,
            columns=_header(path, _read(reader, path)),
            origin=path.name,
            on_reject=on_reject,
            statements=_Statements(conn),
            to_json=bind_processor(_subscribers.c.attributes, conn.dialect),
            now_db=bind_processor(_subscribers.c.created_at, conn.dialect)(utcnow()),
        )
        chunk: list[tuple[int, list[str]]] = []
        for line, row in _rows(reader, path):
            chunk.append((line, row))
            if len(chunk) >= chunk_size:
                _chunk(job, chunk)
                chunk = []
        if chunk:
            _chunk(job, chunk)
        _seen.drop(conn)
    return job.summary


def _read(reader: Any, path: Path) -> list[str]:
    try:
        return list(next(reader))
    except StopIteration:
        raise ImportFileError(
            f"{path}: the file is empty; it needs a header row with an 'email' column"
        ) from None
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: line 1: not UTF-8 text") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path}: line 1: {exc}") from None


def _rows(reader: Any, path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first physical line, fields) for each non-blank record; quoted fields may span lines."""
    previous = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise ImportFileError(
                f"{path}: near line {reader.line_num + 1}: not UTF-8 text"
            ) from None
        except csv.Error as exc:
            raise ImportFileError(f"{path}: line {reader.line_num}: {exc}") from None
        line, previous = previous + 1, reader.line_num
        if "".join(row).strip():
            yield line, row


def _header(path: Path, header: list[str]) -> _Columns:
    names = [cell.strip() for cell in header]
    email: int | None = None
    name: int | None = None
    attributes: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for index, label in enumerate(names):
        if not label:
            # An unnamed column (a spreadsheet's trailing comma) has nothing to be called.
            continue
        folded = label.casefold()
        if folded in seen:
            raise ImportFileError(
                f"{path}: the header names the column {label!r} twice "
                f"(columns {seen[folded] + 1} and {index + 1})"
            )
        seen[folded] = index
        if folded == "email":
            email = index
        elif folded == "name":
            name = index
        else:
            attributes.append((index, label))
    if email is None:
        found = ", ".join(repr(label) for label in names if label) or "nothing"
        raise ImportFileError(f"{path}: the header row has no 'email' column (found {found})")
    return _Columns(width=len(header), email=email, name=name, attributes=attributes)


def _chunk(job: _Import, chunk: list[tuple[int, list[str]]]) -> None:
    rejections: list[Rejection] = []
    first_line: dict[str, int] = {}  # within this chunk only; earlier chunks: the seen table
    rows: list[_Row] = []
    repeats: list[tuple[int, str, str]] = []  # (line, email, key) of in-chunk duplicates
    # The loop body runs for every row of the file: locals, not attribute lookups.
    width, email_at, name_at = job.columns.width, job.columns.email, job.columns.name
    attribute_columns = job.columns.attributes
    for line, fields in chunk:
        if len(fields) != width:
            rejections.append(Rejection(line, f"expected {width} fields, found {len(fields)}"))
            continue
        raw = fields[email_at].strip()
        if not raw:
            rejections.append(Rejection(line, "no email address"))
            continue
        try:
            email, key = normalise(raw)
        except InvalidAddress as exc:
            rejections.append(Rejection(line, f"invalid email {raw!r}: {exc}"))
            continue
        if key in first_line:
            repeats.append((line, email, key))
            continue
        first_line[key] = line
        attributes = {
            label: value for index, label in attribute_columns if (value := fields[index].strip())
        }
        name = fields[name_at].strip() if name_at is not None else ""
        rows.append(_Row(line, email, key, name, attributes))
    # A row repeated within this chunk may itself repeat one from an earlier chunk; then
    # the earlier line is the first occurrence to report.
    first_line.update(_store(job, rows, rejections) if rows else {})
    rejections.extend(
        Rejection(line, f"duplicate of line {first_line[key]} ({email!r})")
        for line, email, key in repeats
    )
    job.reject(rejections)


def _store(job: _Import, rows: list[_Row], rejections: list[Rejection]) -> dict[str, int]:
    """Write the chunk's rows; return {key: first line} for those seen in earlier chunks."""
    conn, dialect, list_id = job.conn, job.conn.dialect, job.mailing_list.id
    keys = [row.key for row in rows]
    suppressed: dict[str, str] = dict(
        conn.execute(
            select(_suppressions.c.email_key, _suppressions.c.reason).where(
                one_of(_suppressions.c.email_key, keys, dialect)
            )
        ).all()
    )
    existing: dict[str, tuple[int, str, dict[str, Any]]] = {
        key: (subscriber_id, name, attributes)
        for subscriber_id, key, name, attributes in conn.execute(
            select(
                _subscribers.c.id,
                _subscribers.c.email_key,
                _subscribers.c.name,
                _subscribers.c.attributes,
            ).where(one_of(_subscribers.c.email_key, keys, dialect))
        )
    }
    earlier: dict[int, int] = {}
    statuses: dict[int, str] = {}
    if existing:
        ids = [found[0] for found in existing.values()]
        earlier = dict(
            conn.execute(
                select(_seen.c.subscriber_id, _seen.c.line).where(
                    one_of(_seen.c.subscriber_id, ids, dialect)
                )
            ).all()
        )
        statuses = dict(
            conn.execute(
                select(_memberships.c.subscriber_id, _memberships.c.status).where(
                    _memberships.c.list_id == list_id,
                    one_of(_memberships.c.subscriber_id, ids, dialect),
                )
            ).all()
        )

    repeated: dict[str, int] = {}
    new: list[_Row] = []
    joining: list[tuple[int, _Row]] = []  # subscribers new to this list
    changes: list[tuple[Any, ...]] = []
    touched: list[tuple[int, int]] = []  # (subscriber id, line), for later duplicates
    for row in rows:
        found = existing.get(row.key)
        if found is not None and found[0] in earlier:
            first = earlier[found[0]]
            rejections.append(Rejection(row.line, f"duplicate of line {first} ({row.email!r})"))
            repeated[row.key] = first
        elif row.key in suppressed:
            reason = suppressed[row.key]
            rejections.append(Rejection(row.line, f"{row.email!r} is suppressed ({reason})"))
        elif found is None:
            new.append(row)
        elif statuses.get(found[0]) == MembershipStatus.UNSUBSCRIBED:
            rejections.append(
                Rejection(row.line, f"{row.email!r} unsubscribed from {job.mailing_list.name!r}")
            )
        else:
            subscriber_id, name, attributes = found
            touched.append((subscriber_id, row.line))
            merged_name = row.name or name
            merged = {**attributes, **row.attributes}
            if merged_name != name or merged != attributes:
                changes.append((subscriber_id, merged_name, job.to_json(merged), job.now_db))
            if subscriber_id in statuses:
                job.summary.updated += 1
            else:
                joining.append((subscriber_id, row))

    statements, now = job.statements, job.now_db
    statements.update_subscriber.execute(conn, changes)
    if new:
        ids = _reserve_ids(conn, len(new))
        statements.add_subscriber.execute(
            conn,
            [
                (sid, row.email, row.key, row.name, job.to_json(row.attributes), now, now)
                for sid, row in zip(ids, new, strict=True)
            ],
        )
        joining.extend(zip(ids, new, strict=True))
        touched.extend((sid, row.line) for sid, row in zip(ids, new, strict=True))
    statements.mark_seen.execute(conn, touched)
    active, imported = MembershipStatus.ACTIVE.value, EventKind.IMPORTED.value
    statements.add_membership.execute(
        conn,
        [(list_id, subscriber_id, active, SOURCE, 1, now, now) for subscriber_id, _ in joining],
    )
    statements.add_event.execute(
        conn,
        [
            (subscriber_id, list_id, imported, now, SOURCE, f"{job.origin}:{row.line}")
            for subscriber_id, row in joining
        ],
    )
    job.summary.added += len(joining)
    return repeated


def _reserve_ids(conn: Connection, count: int) -> list[int]:
    """Ids for `count` new subscribers, known before the insert so nothing is read back."""
    if conn.dialect.name == "postgresql":
        return list(
            conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('subscribers', 'id'))"
                    " FROM generate_series(1, :count)"
                ),
                {"count": count},
            ).scalars()
        )
    # SQLite hands out max(id) + 1 itself. This transaction holds the write lock (or will
    # fail to get it, if another writer got in after its snapshot), so nobody else can
    # take these ids in between.
    last = conn.execute(select(func.max(_subscribers.c.id))).scalar() or 0
    return list(range(last + 1, last + 1 + count))
