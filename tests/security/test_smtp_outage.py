"""A short outage of the SMTP server does not pause a campaign; a long one does.

Connection failures (refused, lost before the end of data, 421) are retried with backoff
for NEWSLETTER_OUTAGE_WINDOW seconds, without using attempts or feeding the error-storm
watch; a refused login or a storm of 5xx refusals still pauses at once
(tests/sending/test_runner.py). The server here is real (tests/sending/mta.py), stopped
and started again on the same port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from newsletter.sending.policy import OutageWatch
from newsletter.sending.runner import Progress, Runner, RunResult
from newsletter.store.campaigns import CampaignStatus, DeliveryState
from newsletter.store.types import utcnow
from tests.sending.helpers import (
    new_campaign,
    populated_list,
    rows,
    sending_settings,
    smtp_transport,
)
from tests.sending.mta import Mta
from tests.store.databases import current_engine
from tests.transports.smtp_servers import free_port

# Low, so that counting the outage's messages as failures would pause at once.
STORM = 3


class Background:
    """A runner in a thread of its own, reporting whether it has met the outage."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.unreachable = threading.Event()
        self.result: RunResult | None = None
        self.error: BaseException | None = None
        runner.on_progress = self._progress
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _progress(self, progress: Progress) -> None:
        if progress.unreachable_until is not None:
            self.unreachable.set()

    def _run(self) -> None:
        try:
            self.result = self.runner.run()
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float = 60) -> RunResult:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the runner did not finish"
        assert self.error is None, self.error
        assert self.result is not None
        return self.result

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self._thread.is_alive(), f"the runner ended early: {self.result}"
            assert time.monotonic() < deadline, f"waited {timeout} s in vain"
            time.sleep(0.005)


def runner_for(campaign_id: int, port: int, **settings: Any) -> Runner:
    transport = smtp_transport(port, connections=2)
    values: dict[str, Any] = {"send_batch_size": 10, "send_pause_after_failures": STORM}
    values.update(settings)
    runner = Runner(
        campaign_id, transport, settings=sending_settings(**values), engine=current_engine()
    )
    return runner


def test_a_server_restart_mid_campaign_delivers_everyone_exactly_once(db: str) -> None:
    audience = populated_list(active=200)
    campaign_id = new_campaign(audience)
    with Mta() as mta:
        runner = runner_for(campaign_id, mta.port)
        # Backoff in tens of milliseconds rather than seconds, the window as by default.
        runner.outage = OutageWatch(300, base=0.02, cap=0.1)
        try:
            sender = Background(runner)
            sender.wait_for(lambda: len(mta.accepted) >= 50)
            mta.stop()
            # Started again only once the runner has met the refused connections.
            sender.wait_for(sender.unreachable.is_set)
            mta.start()
            result = sender.finish()
        finally:
            runner.transport.close()
    assert result.status is CampaignStatus.DONE, result.reason
    counts = mta.counts()
    assert sorted(recipient for recipient, _ in counts) == sorted(audience.eligible)
    assert set(counts.values()) == {1}
    deliveries = rows(campaign_id)
    assert {row.state for row in deliveries.values()} == {DeliveryState.SENT}
    # The outage cost no attempts: only a dot cut off by the stop counts as a try.
    assert all(row.attempts == 1 + row.unanswered for row in deliveries.values())


class FakeClock:
    """The runner's clock, moved on by its own sleeps: minutes of outage in no time."""

    def __init__(self) -> None:
        self.now = utcnow()
        self.slept = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds)
            self.slept += seconds


def test_an_outage_longer_than_the_window_pauses_without_using_attempts(db: str) -> None:
    audience = populated_list(active=30)
    campaign_id = new_campaign(audience)
    clock = FakeClock()
    # Nothing listens there: every connection is refused.
    transport = smtp_transport(free_port())
    try:
        # The default window (300 s) and backoff (1 s doubling to 10 s), on the fake clock.
        runner = Runner(
            campaign_id,
            transport,
            settings=sending_settings(send_pause_after_failures=STORM),
            engine=current_engine(),
            clock=clock,
            sleep=clock.sleep,
        )
        result = runner.run()
    finally:
        transport.close()
    assert result.status is CampaignStatus.PAUSED
    assert result.reason is not None
    assert result.reason.startswith("the server could not be reached for 300 s")
    assert "NEWSLETTER_OUTAGE_WINDOW is 300" in result.reason
    assert "cannot connect" in result.reason
    # It waited out the window in growing steps, not in a burst of connection attempts.
    assert clock.slept == 300
    assert runner.outage.tries < 40
    assert {(row.state, row.attempts) for row in rows(campaign_id).values()} == {
        (DeliveryState.PENDING, 0)
    }
    assert all(
        "the server is unreachable" in (row.detail or "") for row in rows(campaign_id).values()
    )


def test_a_window_of_zero_pauses_at_the_first_outage(sqlite_db: str) -> None:
    audience = populated_list(active=5)
    campaign_id = new_campaign(audience)
    transport = smtp_transport(free_port())
    try:
        result = Runner(
            campaign_id,
            transport,
            settings=sending_settings(outage_window=0),
            engine=current_engine(),
        ).run()
    finally:
        transport.close()
    assert result.status is CampaignStatus.PAUSED
    assert result.reason is not None and "could not be reached for 0 s" in result.reason
