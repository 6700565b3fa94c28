from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable

import pytest

from newsletter.web.outbox import Outbox

DEADLINE = 10.0


def test_jobs_run_in_order_on_the_worker_thread() -> None:
    outbox = Outbox()
    done: list[tuple[int, str]] = []

    def job(number: int) -> Callable[[], None]:
        return lambda: done.append((number, threading.current_thread().name))

    for number in range(5):
        assert outbox.submit(f"job {number}", job(number))

    assert outbox.wait_idle(DEADLINE)
    assert done == [(number, "web-outbox") for number in range(5)]
    outbox.stop()


def test_a_failing_job_is_logged_with_its_traceback_and_the_next_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = Outbox()
    done: list[str] = []

    def fail() -> None:
        raise OSError("connection refused")

    with caplog.at_level(logging.ERROR, logger="newsletter.web.outbox"):
        outbox.submit("send the confirmation mail to ana@example.org", fail)
        outbox.submit("send another", lambda: done.append("next"))
        assert outbox.wait_idle(DEADLINE)

    assert done == ["next"]
    [record] = caplog.records
    assert record.getMessage() == "could not send the confirmation mail to ana@example.org"
    assert record.exc_info is not None and "connection refused" in str(record.exc_info[1])
    outbox.stop()


def test_a_full_queue_refuses_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox(capacity=1)
    running = threading.Event()
    go_on = threading.Event()

    def hold() -> None:
        running.set()
        go_on.wait(DEADLINE)

    assert outbox.submit("hold", hold)
    assert running.wait(DEADLINE)
    assert outbox.submit("wait", lambda: None)
    with caplog.at_level(logging.ERROR, logger="newsletter.web.outbox"):
        assert not outbox.submit("send to bo@example.org", lambda: None)

    assert caplog.messages == ["the outbox is full (1 jobs): could not send to bo@example.org"]
    go_on.set()
    assert outbox.wait_idle(DEADLINE)
    outbox.stop()


def test_stop_finishes_the_queue_then_refuses_until_started_again() -> None:
    outbox = Outbox()
    done: list[int] = []
    outbox.start()
    for number in range(3):
        outbox.submit(f"job {number}", functools.partial(done.append, number))

    outbox.stop()

    assert done == [0, 1, 2]
    assert not outbox.submit("late", lambda: done.append(9))
    outbox.start()
    assert outbox.submit("again", lambda: done.append(3))
    assert outbox.wait_idle(DEADLINE)
    assert done == [0, 1, 2, 3]
    outbox.stop()


def test_stop_gives_up_what_it_cannot_finish_in_time_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outbox = Outbox()
    running = threading.Event()
    go_on = threading.Event()
    done: list[str] = []

    def hold() -> None:
        running.set()
        go_on.wait(DEADLINE)

    outbox.submit("hold", hold)
    outbox.submit("send to ana@example.org", lambda: done.append("ana"))
    assert running.wait(DEADLINE)
    with caplog.at_level(logging.ERROR, logger="newsletter.web.outbox"):
        outbox.stop(timeout=0)

    assert caplog.messages == ["stopped before it could send to ana@example.org"]
    go_on.set()
    assert outbox.wait_idle(DEADLINE)
    assert done == []
