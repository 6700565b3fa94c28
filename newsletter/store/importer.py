"""CSV import into a list: streamed, all-or-nothing, losing nothing without saying so.

The file is read with csv.reader and handled in chunks. Per chunk the work is set-based:
the addresses are parsed and checked in Python, outside any transaction; one read-only
transaction looks up their suppressions, subscribers, earlier duplicates and memberships;
one short write transaction (bulk.py: executemany, COPY on PostgreSQL) stages the result.
Nothing of the import is visible until the final switch, and a failure rolls it back:
staged.py says how. So the import never holds SQLite's write lock for longer than one
chunk (or the switch), and a one-click unsubscribe waits for no more than that.

Nothing is kept across chunks in Python: duplicates further down the file are found
through the staged rows (subscriber id -> first line), which the database keeps on disk.
Rejected rows go to a sink chunk by chunk, so memory stays flat however many there are.

Counting, from the list's point of view: *added* rows put an address on the list (a new
subscriber, or one already on another list); *updated* rows were already on the list and
had their name and attributes refreshed; *skipped* rows are the rejected ones, each
reported with its line and reason. An address that unsubscribed from this list or is
suppressed is skipped untouched: an import never brings anyone back.
"""

from __future__ import annotations

import csv
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from newsletter.store.addresses import InvalidAddress, normalise
from newsletter.store.bulk import BulkInsert, bind_processor, one_of
from newsletter.store.engine import session_scope
from newsletter.store.errors import ImportFileError
from newsletter.store.exporter import from_spreadsheet
from newsletter.store.lists import get_list
from newsletter.store.models import Base, ImportRowKind, MailingList, MembershipStatus
from newsletter.store.staged import LEASE_SECONDS, StagedImport, Turn, begin_import
from newsletter.store.suppressions import address_hash

logger = logging.getLogger(__name__)

# Also the rows per write transaction: at 1,000 a chunk holds SQLite's write lock for
# about 8 ms (5,000: 22 ms, with peaks of 100), at no cost in total time.
DEFAULT_CHUNK = 1000
# A chunk that races a concurrent sign-up of one of its new addresses is planned again.
_ATTEMPTS = 3

_subscribers = Base.metadata.tables["subscribers"]
_memberships = Base.metadata.tables["memberships"]
_suppressions = Base.metadata.tables["suppressions"]
_staged = Base.metadata.tables["import_rows"]


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
    run: StagedImport
    mailing_list: MailingList
    columns: _Columns
    on_reject: RejectSink
    add_subscriber: BulkInsert
    to_json: Callable[[Any], Any]
    now_db: Any  # this import's timestamp, converted for the driver once
    summary: ImportSummary = field(default_factory=ImportSummary)
    last_write: float = field(default_factory=time.monotonic)

    def reject(self, rejections: list[Rejection]) -> None:
        self.summary.skipped += len(rejections)
        for rejection in sorted(rejections, key=lambda r: r.line):
            self.on_reject(rejection)


@dataclass
class _Plan:
    """What one chunk changes, worked out from a read of the store's current state."""

    rejections: list[Rejection] = field(default_factory=list)
    repeated: dict[str, int] = field(default_factory=dict)  # key -> line in an earlier chunk
    new: list[_Row] = field(default_factory=list)
    # (subscriber id, line, kind, name, attributes) of subscribers that already exist.
    staged: list[tuple[Any, ...]] = field(default_factory=list)
    added: int = 0
    updated: int = 0


def import_file(
    list_name: str,
    path: Path,
    on_reject: RejectSink,
    *,
    engine: Engine,
    chunk_size: int = DEFAULT_CHUNK,
    turn: Turn | None = None,
) -> ImportSummary:
    """Import `path` into the list `list_name`, all or nothing (see import_csv)."""
    with session_scope(engine) as session:
        mailing_list = get_list(session, list_name)
    return import_csv(
        mailing_list, path, on_reject, engine=engine, chunk_size=chunk_size, turn=turn
    )


def import_csv(
    mailing_list: MailingList,
    path: Path,
    on_reject: RejectSink,
    *,
    engine: Engine,
    chunk_size: int = DEFAULT_CHUNK,
    turn: Turn | None = None,
) -> ImportSummary:
    """Import `path` in short transactions of its own; if this raises, nothing was imported.

    `turn` is entered around every write transaction (the web side's writers take turns).
    """
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
    with handle, engine.connect() as conn:
        reader = csv.reader(handle)
        columns = _header(path, _read(reader, path))
        run = begin_import(conn, mailing_list.id, path.name, turn=turn)
        try:
            job = _Import(
                run=run,
                mailing_list=mailing_list,
                columns=columns,
                on_reject=on_reject,
                add_subscriber=BulkInsert(
                    conn,
                    _subscribers,
                    ["id", "email", "email_key", "name", "attributes", "created_at", "updated_at"],
                ),
                to_json=bind_processor(_subscribers.c.attributes, conn.dialect),
                now_db=bind_processor(_subscribers.c.created_at, conn.dialect)(run.started_at),
            )
            chunk: list[tuple[int, list[str]]] = []
            for line, row in _rows(reader, path):
                chunk.append((line, row))
                if len(chunk) >= chunk_size:
                    _chunk(job, chunk)
                    chunk = []
            if chunk:
                _chunk(job, chunk)
            run.switch()
        except BaseException:
            # Ctrl-C included. Should this fail too (the database gone), the next import
            # rolls it back once this process has ended.
            _abort(run)
            raise
        # Committed: what remains is bookkeeping that the next import would also finish.
        run.finish()
    return job.summary


def _abort(run: StagedImport) -> None:
    try:
        run.abort()
    except Exception:
        # The original error is the one to report; the leftovers wait for the next import.
        logger.warning("import %d could not be rolled back now", run.id, exc_info=True)


def _read(reader: Any, path: Path) -> list[str]:
    try:
        return list(next(reader))
    except StopIteration:
        raise ImportFileError(
            f"{path}: the file is empty; it needs a header row with an 'email' column"
        ) from None
    except UnicodeDecodeError:
        # The decoder reads ahead in blocks: the bad byte may lie many lines further on.
        raise _not_utf8(path) from None
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
            raise _not_utf8(path) from None
        except csv.Error as exc:
            # Where the record began: line_num is past every line it has consumed so far.
            raise ImportFileError(f"{path}: line {previous + 1}: {exc}") from None
        line, previous = previous + 1, reader.line_num
        if "".join(row).strip():
            yield line, row


_SCAN_BLOCK = 1 << 16


def _not_utf8(path: Path) -> ImportFileError:
    line = _undecodable_line(path)
    where = f"line {line}" if line is not None else "somewhere"
    return ImportFileError(f"{path}: {where}: not UTF-8 text")


def _undecodable_line(path: Path) -> int | None:
    """The physical line (as csv counts them: LF, CRLF or CR end one) of the first bad byte.

    Read again in bounded blocks, as bytes: a UTF-8 sequence never contains CR or LF
    bytes, so lines can be counted without decoding, and each block is checked alone
    (a sequence cut at the block's end is carried over to the next).
    """
    line = 1
    carry = b""
    pending_cr = False  # a CR ended the previous block: an LF next continues that ending
    with path.open("rb") as handle:
        while True:
            raw = handle.read(_SCAN_BLOCK)
            block = carry + raw
            try:
                block.decode("utf-8")
                good, carry = block, b""
            except UnicodeDecodeError as exc:
                cut_short = exc.reason == "unexpected end of data" and raw
                if not cut_short:
                    return line + _line_ends(block[: exc.start], pending_cr)
                good, carry = block[: exc.start], block[exc.start :]
            line += _line_ends(good, pending_cr)
            if good:
                pending_cr = good.endswith(b"\r")
            if not raw:
                return None


def _line_ends(data: bytes, after_cr: bool) -> int:
    ends = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    # An LF right after a CR that ended the previous block finishes that same line end.
    return ends - 1 if after_cr and data.startswith(b"\n") else ends


def _header(path: Path, header: list[str]) -> _Columns:
    # An exported header is escaped like every other cell (an attribute named "=x").
    names = [from_spreadsheet(cell.strip()) for cell in header]
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
    first_line: dict[str, int] = {}  # within this chunk only; earlier chunks: the staged rows
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
        if raw[:1] == "'":
            raw = from_spreadsheet(raw)
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
            label: from_spreadsheet(value) if value[0] == "'" else value
            for index, label in attribute_columns
            if (value := fields[index].strip())
        }
        name = fields[name_at].strip() if name_at is not None else ""
        if name[:1] == "'":
            name = from_spreadsheet(name)
        rows.append(_Row(line, email, key, name, attributes))
    # A row repeated within this chunk may itself repeat one from an earlier chunk; then
    # the earlier line is the first occurrence to report.
    if rows:
        first_line.update(_store(job, rows, rejections))
    elif time.monotonic() - job.last_write > LEASE_SECONDS / 4:
        # A long stretch of rejected rows writes nothing: renew the lease all the same.
        with job.run.writing():
            job.last_write = time.monotonic()
    rejections.extend(
        Rejection(line, f"duplicate of line {first_line[key]} ({email!r})")
        for line, email, key in repeats
    )
    job.reject(rejections)


def _store(job: _Import, rows: list[_Row], rejections: list[Rejection]) -> dict[str, int]:
    """Stage the chunk's rows; return {key: first line} for those seen in earlier chunks."""
    for attempt in range(1, _ATTEMPTS + 1):
        plan = _plan(job, rows)
        try:
            _write(job, plan)
            break
        except IntegrityError:
            # Someone signed up with one of the new addresses since it was read.
            if attempt == _ATTEMPTS:
                raise
    rejections.extend(plan.rejections)
    job.summary.added += plan.added
    job.summary.updated += plan.updated
    return plan.repeated


def _plan(job: _Import, rows: list[_Row]) -> _Plan:
    """Read the state the chunk meets (read-only: no lock held) and decide each row."""
    list_id = job.mailing_list.id
    keys = [row.key for row in rows]
    with job.run.reading() as conn:
        dialect = conn.dialect
        suppressed: dict[str, str] = dict(
            conn.execute(
                select(_suppressions.c.email_key, _suppressions.c.reason).where(
                    one_of(_suppressions.c.email_key, keys, dialect)
                )
            ).all()
        )
        # Erased addresses are kept only as hashes: looked up by the hash of each key.
        hashes = {address_hash(key): key for key in keys}
        suppressed.update(
            (hashes[digest], reason)
            for digest, reason in conn.execute(
                select(_suppressions.c.email_hash, _suppressions.c.reason).where(
                    one_of(_suppressions.c.email_hash, list(hashes), dialect)
                )
            )
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
                    select(_staged.c.subscriber_id, _staged.c.line).where(
                        _staged.c.import_id == job.run.id,
                        one_of(_staged.c.subscriber_id, ids, dialect),
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

    plan = _Plan()
    for row in rows:
        found = existing.get(row.key)
        if found is not None and found[0] in earlier:
            first = earlier[found[0]]
            plan.rejections.append(
                Rejection(row.line, f"duplicate of line {first} ({row.email!r})")
            )
            plan.repeated[row.key] = first
        elif row.key in suppressed:
            reason = suppressed[row.key]
            plan.rejections.append(Rejection(row.line, f"{row.email!r} is suppressed ({reason})"))
        elif found is None:
            plan.new.append(row)
        elif statuses.get(found[0]) == MembershipStatus.UNSUBSCRIBED:
            plan.rejections.append(
                Rejection(row.line, f"{row.email!r} unsubscribed from {job.mailing_list.name!r}")
            )
        else:
            subscriber_id, name, attributes = found
            merged_name = row.name or name
            merged = {**attributes, **row.attributes}
            changed = merged_name != name or merged != attributes
            member = subscriber_id in statuses
            plan.staged.append(
                (
                    subscriber_id,
                    row.line,
                    ImportRowKind.MEMBER if member else ImportRowKind.JOIN,
                    merged_name if changed else None,
                    job.to_json(merged) if changed else None,
                )
            )
            if member:
                plan.updated += 1
            else:
                plan.added += 1
    plan.added += len(plan.new)
    return plan


def _write(job: _Import, plan: _Plan) -> None:
    """The chunk's one write transaction: new subscribers and the staged rows."""
    now, new = job.now_db, plan.new
    with job.run.writing() as conn:
        staged = plan.staged
        if new:
            ids = _reserve_ids(conn, len(new))
            job.add_subscriber.execute(
                conn,
                [
                    (sid, row.email, row.key, row.name, job.to_json(row.attributes), now, now)
                    for sid, row in zip(ids, new, strict=True)
                ],
            )
            staged = staged + [
                (sid, row.line, ImportRowKind.NEW, None, None)
                for sid, row in zip(ids, new, strict=True)
            ]
        job.run.stage(conn, staged)
    job.last_write = time.monotonic()


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
    # SQLite hands out max(id) + 1 itself. This runs in a write transaction (BEGIN
    # IMMEDIATE), so nobody else can take these ids in between.
    last = conn.execute(select(func.max(_subscribers.c.id))).scalar() or 0
    return list(range(last + 1, last + 1 + count))
