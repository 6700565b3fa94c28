"""Mail the web side sends after answering: a page never waits for the mail server.

How long a form takes to answer must not depend on whether it sends mail (the sign-up
form would otherwise tell a stranger which addresses are subscribed), nor on how slow the
mail server is. So a route hands its mail to the app's `Outbox` and answers at once; one
worker thread sends the jobs in order.

The queue is bounded: a job that does not fit (the mail server is far behind) is refused,
and the caller undoes what it would have recorded. A job that fails is logged with its
traceback, never dropped silently. The app's lifespan starts the worker and, on shutdown,
lets it finish the queue for up to `STOP_TIMEOUT` seconds, logging each job it gives up.
A server that runs the app without a lifespan gets the worker on the first job instead;
jobs still queued when that process exits are lost, like a request cut off mid-way.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Jobs waiting at most; a confirmation mail takes a few milliseconds on a healthy server.
CAPACITY = 1000
# Seconds shutdown waits for the queue: about one SMTP timeout.
STOP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Job:
    # What the job does, for the log: "send the confirmation mail to ana@example.org".
    what: str
    run: Callable[[], None]


class Outbox:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._capacity = capacity
        self._jobs: deque[Job] = deque()
        # Jobs submitted and not finished: queued or running.
        self._unfinished = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()

    def start(self) -> None:
        with self._changed:
            self._closed = False
            self._start_worker()

    def submit(self, what: str, run: Callable[[], None]) -> bool:
        """Queue `run`; False (and logged) when the queue is full or stopped."""
        with self._changed:
            if self._closed or len(self._jobs) >= self._capacity:
                state = "stopped" if self._closed else f"full ({self._capacity} jobs)"
                log.error("the outbox is %s: could not %s", state, what)
                return False
            self._jobs.append(Job(what, run))
            self._unfinished += 1
            self._start_worker()
            self._changed.notify_all()
        return True

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every job submitted so far has finished; False after `timeout` s."""
        with self._changed:
            return self._changed.wait_for(lambda: self._unfinished == 0, timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Refuse new jobs, finish the queued ones within `timeout`, give up the rest."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._changed:
            while self._jobs:
                job = self._jobs.popleft()
                self._unfinished -= 1
                log.error("stopped before it could %s", job.what)
            self._changed.notify_all()

    def _start_worker(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="web-outbox", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._jobs or self._closed)
                if not self._jobs:
                    # Stopped and done: the next start() gets a new thread.
                    self._thread = None
                    return
                job = self._jobs.popleft()
            try:
                job.run()
            except Exception:
                log.exception("could not %s", job.what)
            finally:
                with self._changed:
                    self._unfinished -= 1
                    self._changed.notify_all()
