"""The point-of-no-return journal: how a send survives being killed at any moment.

SMTP has no atomic "send and record". A server keeps a message only once it has read the
end-of-data dot; a connection that closes before the dot leaves nothing behind. So the
transport writes a message's content, then calls `point_of_no_return(key)`, and only when
that has returned writes the dot (newsletter.transports.smtp). The call records, durably,
that this delivery is being handed over:

1. it commits `deliveries.committed_at` (one UPDATE in autocommit, on a connection of its
   own, outside the ORM: tens of microseconds on SQLite);
2. then it sets the delivery's byte in the runner's memory-mapped mark file
   (newsletter.sending.marks), a store that cannot be lost once made.

Once the dot's write() has returned, before the server's reply is read,
`handed_over(key)` records that too: the byte becomes 2, then `deliveries.handed_over_at`
is committed the same way, while the server reads and answers.

A runner that resumes the campaign (or a worker that finds another one dead, see
newsletter.sending.lease) settles each delivery still `sending`:
- on the same host as the dead runner, by its mark file; on another host, where that
  file cannot be read, by `committed_at` and `handed_over_at` in the same way;
- handed over → `sent` ("settled after interruption"), never sent again;
- about to be handed over, not known to be → back to `pending`, sent again with the same
  Message-ID, and counted as may be duplicated: the sender died between the two marks,
  and no one can tell whether its dot left;
- neither → back to `pending`, sent again with the same Message-ID (the dot was never
  written, so the server discarded the message).

A non-2xx reply to the dot is taken back at once (`not_accepted`: mark cleared, then its
own small commit), so a crash before the batch's outcomes are written cannot count it as
sent. So is a dot that got no reply at all because the connection dropped while the
sender lived: a server accepts responsibility for a message only with its reply (RFC 5321,
6.1), so the delivery goes back to the queue and is sent again later with the same
Message-ID (receivers that de-duplicate by Message-ID show it once), noted "no reply after
end of data: may be duplicated" and counted in the campaign's figures, as Postfix's client
does ("message may be sent more than once"). At least once, in that case.

The honest limits:
- No message is lost to a crash of the sender: one whose dot may have left is sent again
  unless the dot's write was recorded. The price is a second copy, with the same
  Message-ID, when the kill falls between the dot's write() and its record: on the same
  host (the mark file) a return and a method call, about a microsecond; on another host
  (`handed_over_at`) the database's round trip too, typically 5-100 microseconds. Only
  receivers that de-duplicate by Message-ID show that copy once; each such delivery is
  counted as may be duplicated. (Before, the mark came only before the dot, so that a
  kill in the same gap lost the message instead.)
- A kill of the sender between the dot and the server's reply settles the message as
  sent (at most once): a server that would have refused the dot at that instant
  (4xx/5xx) has it counted as sent, and so has a server that discards a message when the
  connection closes right after the dot, before it has replied (an MTA such as Postfix
  processes what it has read). While the sender lives, no reply means sent again (above).
- HTTP APIs: every key of a request is marked as handed over for good
  (`point_of_no_return(final=True)`: both columns at once) right before the request is
  sent, so a request in flight at the crash counts as sent, because only the provider
  knows whether it arrived; at most once rather than a duplicate of a whole batch. A
  request that goes unanswered while the sender lives (a read timeout) is settled the same
  way (`Status.UNCONFIRMED`: sent, noted as unconfirmed).
- A cancelled campaign sends nothing more, so a cancel counts what was handed over and
  not answered as sent.
- All of this holds against the death of the sending process (kill -9, OOM killer, a
  crash). The mark file lives in the page cache, and SQLite in WAL mode with
  synchronous=NORMAL (the store's setting) keeps every commit once write() returns; the
  PostgreSQL journal connection uses synchronous_commit=off for the same reason. A power
  loss or an OS crash can lose the last marks and commits: those messages go out again
  (duplicates), none is lost that way.

The same database connection refreshes the runner's heartbeat (newsletter.sending.lease)
from a background thread while the runner sends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.engine import Engine

from newsletter.core.errors import NewsletterError
from newsletter.sending.marks import HANDED_OVER, MarkFile
from newsletter.store.bulk import bind_processor
from newsletter.store.campaigns import CampaignRunner, Delivery
from newsletter.store.types import utcnow

# Keys per UPDATE … WHERE id IN (…): an HTTP batch of 1,000 becomes two statements.
_CHUNK = 500


class DeliveryTakenError(NewsletterError):
    """A delivery about to be handed over is no longer this runner's: the others took it
    for dead (its heartbeat was late) and settled its rows."""

    def __init__(self, key: int, owner: str) -> None:
        super().__init__(
            f"delivery {key} is no longer with runner {owner}: another runner took this one "
            "for dead and settled it; not sent"
        )


class DeliveryJournal:
    """`Journal` (newsletter.transports.base) on the deliveries table; thread-safe."""

    def __init__(
        self,
        engine: Engine,
        campaign_id: int,
        owner: str,
        *,
        marks: MarkFile | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.campaign_id = campaign_id
        self.owner = owner
        self.marks = marks
        self._clock = clock
        self._lock = threading.Lock()
        dialect = engine.dialect
        self._placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        self._timestamp = bind_processor(cast(Table, Delivery.__table__).c.committed_at, dialect)
        self._heartbeat_value = bind_processor(
            cast(Table, CampaignRunner.__table__).c.heartbeat, dialect
        )
        fairy = engine.raw_connection()
        self._connection: Any = fairy.driver_connection
        assert self._connection is not None, "a freshly checked-out connection is open"
        # Never handed back to the pool: it is in autocommit mode, which the pool's other
        # users do not expect.
        fairy.detach()
        self._closed = False
        if dialect.name == "postgresql":
            self._connection.autocommit = True
        # SQLite: the store's engine already runs sqlite3 with isolation_level=None, where
        # every statement outside BEGIN commits on its own.
        self._cursor = self._connection.cursor()
        if dialect.name == "postgresql":
            self._run("SET synchronous_commit = off", ())
        p = self._placeholder
        # Fenced: only a row still `sending` with this runner. One that others settled
        # after taking this runner for dead (its heartbeat late) must not go out.
        self._fence = f" AND state = 'sending' AND claimed_by = {p}"
        self._commit_one = f"UPDATE deliveries SET committed_at = {p} WHERE id = {p}" + self._fence
        self._handed_over_one = f"UPDATE deliveries SET handed_over_at = {p} WHERE id = {p}"

    def point_of_no_return(self, *keys: int, final: bool = False) -> None:
        value = self._timestamp(self._clock())
        marks = self.marks
        if final:
            # Counts as sent from here on, answered or not (an API request).
            self._update_keys(
                "UPDATE deliveries SET committed_at = {p}, handed_over_at = {p} "
                "WHERE id IN ({ids})",
                keys,
                value,
                value,
                fenced=True,
            )
            if marks is not None:
                for key in keys:
                    marks.set(key, HANDED_OVER)
            return
        if len(keys) == 1:
            # The common case (SMTP), kept short: what runs after the mark is all that
            # stands between it and the caller's write of the dot.
            store = marks.setter(keys[0]) if marks is not None else None
            with self._lock:
                self._check_open()
                self._cursor.execute(self._commit_one, (value, keys[0], self.owner))
                taken = self._cursor.rowcount != 1
            if taken:
                raise DeliveryTakenError(keys[0], self.owner)
            if store is not None:
                store()
            return
        self._update_keys(
            "UPDATE deliveries SET committed_at = {p} WHERE id IN ({ids})",
            keys,
            value,
            fenced=True,
        )
        # Last, and right before the caller's write: a store into a mapped page, which
        # neither waits for I/O nor lets go of the GIL (see newsletter.sending.marks).
        if marks is not None:
            for key in keys:
                marks.set(key)

    def handed_over(self, *keys: int) -> None:
        value = self._timestamp(self._clock())
        marks = self.marks
        if marks is not None:
            for key in keys:
                marks.handed_over(key)
        if len(keys) == 1:
            with self._lock:
                self._check_open()
                self._cursor.execute(self._handed_over_one, (value, keys[0]))
            return
        self._update_keys(
            "UPDATE deliveries SET handed_over_at = {p} WHERE id IN ({ids})", keys, value
        )

    def not_accepted(self, *keys: int) -> None:
        self.reset(*keys)
        self._update_keys(
            "UPDATE deliveries SET committed_at = NULL, handed_over_at = NULL WHERE id IN ({ids})",
            keys,
        )

    def reset(self, *keys: int) -> None:
        """Clear the marks of deliveries about to be tried (again)."""
        if self.marks is not None:
            for key in keys:
                self.marks.clear(key)

    def heartbeat(self) -> bool:
        """Refresh the lease; False when another runner has taken it over."""
        p = self._placeholder
        count = self._run(
            f"UPDATE campaign_runners SET heartbeat = {p} WHERE campaign_id = {p} AND owner = {p}",
            (self._heartbeat_value(self._clock()), self.campaign_id, self.owner),
        )
        return count > 0

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._cursor.close()
                self._connection.close()

    def _update_keys(
        self, template: str, keys: Sequence[int], *head: Any, fenced: bool = False
    ) -> None:
        p = self._placeholder
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            sql = template.format(p=p, ids=", ".join([p] * len(chunk)))
            if not fenced:
                self._run(sql, (*head, *chunk))
                continue
            if self._run(sql + self._fence, (*head, *chunk, self.owner)) != len(chunk):
                # Some of them are not this runner's any more, so none may go: what was
                # just recorded for the rest is taken back.
                self._run(
                    "UPDATE deliveries SET committed_at = NULL, handed_over_at = NULL "
                    f"WHERE id IN ({', '.join([p] * len(keys))})" + self._fence,
                    (*keys, self.owner),
                )
                raise DeliveryTakenError(chunk[0], self.owner)

    def _run(self, sql: str, params: Sequence[Any]) -> int:
        with self._lock:
            self._check_open()
            self._cursor.execute(sql, params)
            return int(self._cursor.rowcount)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the delivery journal is closed")


class Heartbeat:
    """Refreshes the lease every `interval` seconds in a thread; notes when it is lost."""

    def __init__(self, journal: DeliveryJournal, interval: float) -> None:
        self._journal = journal
        self._interval = interval
        self._stop = threading.Event()
        self.lost = False
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not self._journal.heartbeat():
                    self.lost = True
                    return
            except Exception as exc:
                # The runner's own next transaction will meet the same database trouble;
                # a missed beat only matters after the lease timeout.
                self.error = exc
