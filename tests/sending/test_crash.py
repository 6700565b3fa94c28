"""A real `newsletter send`, killed with SIGKILL at several moments and resumed each time,
must end with every eligible recipient having one message accepted by the server: exactly
one, but for the one case the design trades a copy for no loss (a kill between the dot's
write and its mark: sent again, same Message-ID, counted as may be duplicated).

The kills land in the three places that matter, in random positions of the list:
1. at a random moment, once the database shows progress (anywhere: claiming, rendering,
   writing, recording);
2. while the client is writing a message's content (the server has just answered DATA):
   that message, and the rest of its batch, must be sent again on resume;
3. right after the server has read a message's end-of-data dot, before it has replied:
   that message must count as sent on resume and not be sent again (unless the kill beat
   the sender's mark of the dot, see above).

On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from newsletter.store.lists import create_list
from newsletter.store.models import SuppressionReason
from newsletter.store.subscriptions import subscribe, suppress, unsubscribe
from tests.sending.mta import Mta
from tests.store.databases import session_scope
from tests.store.helpers import run_import

SUBSCRIBERS = 2000
RECORD = """\
title: A Seminar on Crash Safety
date: 2024-05-02
organiser: MUSLIM Institute
summary: What happens when the power goes, [in short](https://example.org/).
recommendations:
  - Keep a journal
"""
NEWSLETTER = Path(sys.executable).with_name("newsletter")


@pytest.mark.slow
def test_a_send_killed_again_and_again_delivers_each_message_exactly_once(
    db: str, tmp_path: Path
) -> None:
    rng = random.Random()
    eligible = _populate(tmp_path)
    record = tmp_path / "record.yaml"
    record.write_text(RECORD)
    with Mta(reply_delay=0.002) as mta:
        env = _environment(db, mta.port)
        database = db

        first = Sender(env, tmp_path, "send", str(record), "--list", "members", "--yes")
        campaign_id = first.campaign_id()
        _wait_for(lambda: _progress(database) >= rng.randint(200, 500), first)
        time.sleep(rng.uniform(0, 0.02))
        first.kill()

        settled = []
        for moment in ("data", "dot"):
            resumed = Sender(env, tmp_path, "campaigns", "resume", str(campaign_id))
            trigger = KillAt(moment, after=rng.randint(100, 300), sender=resumed)
            mta.on_event = trigger
            _wait_for(trigger.fired.is_set, resumed)
            resumed.wait_killed()
            mta.on_event = None
            settled.append(_in_flight(database))

        last = Sender(env, tmp_path, "campaigns", "resume", str(campaign_id))
        assert last.finish() == 0, last.output()

    # Killed while writing content: in flight without a commit mark, so sent again.
    assert settled[0][0] >= 1
    # Killed after the dot was read: in flight with the mark, so settled as sent.
    assert settled[1][1] >= 1
    counts = mta.counts()
    by_recipient: dict[str, list[str]] = {}
    for recipient, message_id in counts:
        by_recipient.setdefault(recipient, []).append(message_id)
    twice = {key: n for key, n in counts.items() if n > 1}
    # The one copy the design allows (newsletter.sending.journal): a kill inside the
    # microsecond between the dot's write and its mark, which the scheduler can make the
    # server's kill land in. That message is sent again with the same Message-ID and
    # counted as may be duplicated; any other copy is a defect.
    counted = {
        str(row[0]) for row in _query(database, "SELECT email FROM deliveries WHERE unanswered > 0")
    }
    uncounted = {key: n for key, n in twice.items() if n > 2 or key[0] not in counted}
    assert uncounted == {}, f"accepted more than once, not counted as may be duplicated: {twice}"
    assert len(twice) <= 3, f"more copies than kills: {twice}"
    assert sorted(by_recipient) == sorted(eligible), _missing(eligible, by_recipient, mta)
    assert all(len(ids) == 1 for ids in by_recipient.values())
    assert _states(database) == {"sent": len(eligible)}


class Sender:
    """One `newsletter` process, its output in files (a full pipe would block it)."""

    def __init__(self, env: dict[str, str], folder: Path, *args: str) -> None:
        self.out = folder / f"out-{time.monotonic_ns()}.txt"
        self.err = self.out.with_suffix(".err")
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [str(NEWSLETTER), *args], env=env, stdout=out, stderr=err, cwd=folder
            )

    def campaign_id(self) -> int:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            first = self.out.read_text().split("\n", 1)
            if len(first) == 2:
                assert first[0].startswith("campaign "), self.output()
                return int(first[0].split()[1])
            assert self.process.poll() is None, self.output()
            time.sleep(0.01)
        raise AssertionError(f"no campaign id within 20 s: {self.output()}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.wait_killed()

    def wait_killed(self) -> None:
        # Reaped here, or the dead sender would linger as a zombie.
        assert self.process.wait(timeout=10) == -signal.SIGKILL, self.output()

    def finish(self) -> int:
        return self.process.wait(timeout=60)

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return f"stdout:\n{self.out.read_text()}\nstderr:\n{self.err.read_text()}"


class KillAt:
    """Kills the sender from the server's thread at the `after`-th `moment` event."""

    def __init__(self, moment: str, *, after: int, sender: Sender) -> None:
        self.moment = moment
        self.left = after
        self.sender = sender
        self.fired = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, kind: str) -> None:
        if kind != self.moment:
            return
        with self._lock:
            self.left -= 1
            if self.left != 0:
                return
        os.kill(self.sender.process.pid, signal.SIGKILL)
        self.fired.set()


def _populate(folder: Path) -> list[str]:
    """The list: SUBSCRIBERS addresses, of which a few must not be mailed."""
    with session_scope(write=True) as session:
        list_id = create_list(session, "members").id
    csv = folder / "members.csv"
    csv.write_text(
        "email,name\n" + "".join(f"p{i}@example.net,Person {i}\n" for i in range(SUBSCRIBERS))
    )
    summary, rejected = run_import("members", csv)
    assert (summary.added, rejected) == (SUBSCRIBERS, [])
    excluded = {"p10@example.net", "p11@example.net", "p1500@example.net"}
    with session_scope(write=True) as session:
        suppress(session, "p10@example.net", SuppressionReason.COMPLAINED, source="test")
        suppress(session, "p1500@example.net", SuppressionReason.BOUNCED, source="test")
        membership = subscribe(session, list_id, "p11@example.net", source="test")
        unsubscribe(session, membership.subscriber_id, list_id, source="test")
    return [f"p{i}@example.net" for i in range(SUBSCRIBERS) if f"p{i}@example.net" not in excluded]


def _environment(database_url: str, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_TRANSPORT="smtp",
        NEWSLETTER_SMTP_URL=f"smtp://127.0.0.1:{port}",
        NEWSLETTER_SMTP_CONNECTIONS="4",
        NEWSLETTER_FROM="MUSLIM Institute <newsletter@example.org>",
        NEWSLETTER_SEND_BATCH_SIZE="50",
    )
    return env


def _wait_for(condition: Callable[[], bool], sender: Sender, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert sender.alive(), f"the sender ended before it could be killed: {sender.output()}"
        assert time.monotonic() < deadline, f"waited {timeout} s in vain: {sender.output()}"
        time.sleep(0.005)


def _query(database: str, sql: str) -> list[tuple[object, ...]]:
    """`sql` on the test's database (`database` is its URL), as the senders left it."""
    with session_scope() as session:
        assert session.get_bind().engine.url.render_as_string(hide_password=False) == database
        return [tuple(row) for row in session.execute(text(sql)).all()]


def _progress(database: str) -> int:
    return int(_query(database, "SELECT count(*) FROM deliveries WHERE state = 'sent'")[0][0])


def _in_flight(database: str) -> tuple[int, int]:
    """Deliveries a killed sender left `sending`: (without, with) the commit mark."""
    rows = _query(
        database,
        "SELECT committed_at IS NOT NULL, count(*) FROM deliveries "
        "WHERE state = 'sending' GROUP BY 1",
    )
    found = {bool(marked): int(count) for marked, count in rows}
    return found.get(False, 0), found.get(True, 0)


def _states(database: str) -> dict[str, int]:
    rows = _query(database, "SELECT state, count(*) FROM deliveries GROUP BY state")
    return {str(state): int(count) for state, count in rows}


def _missing(eligible: list[str], received: dict[str, list[str]], mta: Mta) -> str:
    missing = sorted(set(eligible) - set(received))
    extra = sorted(set(received) - set(eligible))
    unfinished = [(r, len(d)) for r, d in mta.unfinished if r in missing]
    return f"missing {missing[:20]}, unexpected {extra[:20]}, unfinished DATA {unfinished}"
