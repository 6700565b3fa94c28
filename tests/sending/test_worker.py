"""Sending workers (newsletter.sending.worker): real `newsletter worker` processes on real
Redis and RabbitMQ on loopback, over real PostgreSQL, to an aiosmtpd server that counts
what it accepted.

Each test has its own queue (and, on Redis, a database number of its own), so that tests
running side by side never take each other's tasks.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.core.settings import Settings, get_settings
from newsletter.sending.worker import run_campaign
from tests.sending.helpers import Audience, new_campaign, populated_list
from tests.store.databases import isolated_database, session_scope
from tests.transports.smtp_servers import Mailbox, smtp_server

NEWSLETTER = Path(sys.executable).with_name("newsletter")
REDIS = "redis://127.0.0.1:6379"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"

RECORD = """\
title: A Seminar for the Workers
date: 2024-05-02
organiser: MUSLIM Institute
summary: Sent by a worker, [in short](https://example.org/).
recommendations:
  - Share the load
"""


@pytest.fixture
def postgres(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with isolated_database("postgresql", tmp_path, monkeypatch) as url:
        yield url


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A broker URL and a queue of this test's own, set in the environment."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    url = f"{REDIS}/{random.randint(1, 14)}" if request.param == "redis" else RABBITMQ
    _reachable(url)
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", url)
    # Workers share their rate limit through Redis, which RabbitMQ is not.
    monkeypatch.setenv("NEWSLETTER_RATE_REDIS_URL", f"{REDIS}/15")
    monkeypatch.setenv("NEWSLETTER_BROKER_QUEUE", queue)
    get_settings.cache_clear()
    try:
        yield url
    finally:
        delete_queue(url, queue)


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox()
    with smtp_server(box) as port:
        monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{port}")
        monkeypatch.setenv("NEWSLETTER_SMTP_CONNECTIONS", "2")
        monkeypatch.setenv("NEWSLETTER_FROM", "MUSLIM Institute <newsletter@example.org>")
        monkeypatch.setenv("NEWSLETTER_SEND_BATCH_SIZE", "20")
        get_settings.cache_clear()
        yield box


class Worker:
    """One `newsletter worker` process, in a process group of its own (its pool's children
    die with it), its output in a file."""

    def __init__(self, folder: Path, *args: str, host: str | None = None) -> None:
        """`host`: a machine of its own, as far as the worker can tell: a host name of
        its own (a UTS namespace) and its own data folder."""
        self.log = folder / f"worker-{time.monotonic_ns()}.log"
        command = [str(NEWSLETTER), "worker", *args]
        env = dict(os.environ)
        if host is not None:
            folder = folder / host
            folder.mkdir(exist_ok=True)
            env["NEWSLETTER_DATA_DIR"] = str(folder / "data")
            command = [
                "unshare",
                "--uts",
                "sh",
                "-c",
                f'hostname {host} && exec "$@"',
                "-",
                *command,
            ]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=folder,
                start_new_session=True,
            )

    def kill(self) -> None:
        """As a lost machine: the worker and its pool, with SIGKILL."""
        os.killpg(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL, self.output()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def alive(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(*args: str, host: str | None = None) -> Worker:
        worker = Worker(tmp_path, *args, host=host)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def record(folder: Path) -> Path:
    path = folder / "record.yaml"
    path.write_text(RECORD)
    return path


def message_ids(box: Mailbox) -> dict[str, list[str]]:
    """Each recipient the server accepted a message for, with the Message-IDs it got."""
    received: dict[str, list[str]] = {}
    for accepted in list(box.accepted):
        message_id = message_from_bytes(accepted.data, policy=policy.SMTP)["Message-ID"]
        for address in accepted.rcpt_tos:
            received.setdefault(address, []).append(str(message_id))
    return received


def wait_for(condition: Callable[[], bool], worker: Worker, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert worker.alive(), worker.output()
        assert time.monotonic() < deadline, (
            f"waited {timeout} s in vain; {where_things_are()}\n{worker.output()}"
        )
        time.sleep(0.01)


def where_things_are() -> str:
    """The deliveries per state and runner, and the runners: what a stalled test saw."""
    from sqlalchemy import func, select

    from newsletter.store.campaigns import CampaignRunner, Delivery

    with session_scope() as session:
        per_state = session.execute(
            select(Delivery.state, Delivery.claimed_by, func.count()).group_by(
                Delivery.state, Delivery.claimed_by
            )
        ).all()
        runners = session.execute(select(CampaignRunner.owner, CampaignRunner.heartbeat)).all()
    return f"deliveries {per_state}; runners {runners}"


def queued(
    folder: Path, monkeypatch: pytest.MonkeyPatch, *, rate: int, active: int
) -> tuple[Audience, int]:
    """A list of `active` members and a campaign to it, queued with `send --queue` at the
    rate limit `rate`: the list and the campaign's id."""
    monkeypatch.setenv("NEWSLETTER_RATE_LIMIT", str(rate))
    get_settings.cache_clear()
    audience = populated_list(active=active)
    result = cli("send", str(record(folder)), "--list", "members", "--yes", "--queue")
    assert result.exit_code == 0, result.output
    return audience, campaign_of(result)


def campaign_of(result: Result) -> int:
    first = result.stdout.splitlines()[0]
    assert first.startswith("campaign "), result.output
    return int(first.split()[1])


@pytest.mark.slow
@pytest.mark.postgres
def test_a_queued_send_is_sent_by_a_worker_to_everyone_once(
    postgres: str,
    broker: str,
    mailbox: Mailbox,
    workers: Callable[..., Worker],
    tmp_path: Path,
) -> None:
    audience = populated_list(active=40)
    result = cli("send", str(record(tmp_path)), "--list", "members", "--yes", "--queue")
    assert result.exit_code == 0, result.output
    campaign_id = campaign_of(result)
    # Nothing is sent by the command itself: no worker runs yet.
    assert mailbox.accepted == []
    workers("--concurrency", "2")

    waited = cli("campaigns", "wait", str(campaign_id), "--timeout", "60")
    assert waited.exit_code == 0, waited.output
    assert waited.stdout.splitlines()[-1] == (
        f"campaign {campaign_id} done: sent 40, failed 0, skipped 0, left 0"
    )
    received = message_ids(mailbox)
    assert sorted(received) == sorted(audience.eligible)
    assert all(len(ids) == 1 for ids in received.values()), received


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_killed_mid_campaign_and_restarted_finishes_it_without_duplicates(
    postgres: str,
    broker: str,
    mailbox: Mailbox,
    workers: Callable[..., Worker],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Slow enough to be caught half-way, whatever the machine.
    audience, campaign_id = queued(tmp_path, monkeypatch, rate=100, active=300)

    first = workers()
    wait_for(lambda: len(mailbox.accepted) >= random.randint(40, 120), first)
    first.kill()
    left_behind = len(mailbox.accepted)
    assert left_behind < len(audience.eligible)

    second = workers()
    waited = cli("campaigns", "wait", str(campaign_id), "--timeout", "90")
    assert waited.exit_code == 0, f"{waited.output}\n{second.output()}"
    received = message_ids(mailbox)
    twice = {address: ids for address, ids in received.items() if len(ids) > 1}
    assert twice == {}, f"accepted more than once: {twice}"
    assert sorted(received) == sorted(audience.eligible)
    with session_scope() as session:
        from newsletter.store.campaigns import DeliveryState, delivery_counts

        counts = delivery_counts(session, campaign_id)
    assert counts[DeliveryState.SENT] == len(audience.eligible)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_second_worker_given_the_same_campaign_leaves_it_to_the_first(
    postgres: str, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    audience = populated_list(active=30)
    campaign_id = new_campaign(audience)
    # Another process sends it, slowly enough for the worker's task to come meanwhile.
    monkeypatch.setenv("NEWSLETTER_RATE_LIMIT", "10")
    monkeypatch.setenv("NEWSLETTER_RATE_REDIS_URL", f"{REDIS}/15")
    get_settings.cache_clear()
    first = subprocess.Popen(
        [str(NEWSLETTER), "campaigns", "resume", str(campaign_id)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while len(mailbox.accepted) < 3:
            assert first.poll() is None and time.monotonic() < deadline, (
                "the first run sent nothing"
            )
            time.sleep(0.01)
        left = run_campaign(Settings(), campaign_id)
        assert len(mailbox.accepted) < len(audience.eligible)
        output, _ = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert left.startswith(f"campaign {campaign_id} left to its runner: ")
    assert "is being sent by" in left
    assert first.returncode == 0, output
    received = message_ids(mailbox)
    assert sorted(received) == sorted(audience.eligible)
    assert all(len(ids) == 1 for ids in received.values())


def _reachable(url: str) -> None:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.skip(f"the broker at {url} is unreachable: {exc}")


def delete_queue(url: str, queue: str) -> None:
    from kombu import Connection

    with Connection(url, connect_timeout=3) as connection:
        channel = connection.channel()
        try:
            channel.queue_delete(queue)
        except Exception:  # already gone, or never declared
            pass
        finally:
            channel.close()


def _own_hosts_possible() -> str | None:
    """Why workers cannot each have a host name of their own here, or None."""
    try:
        subprocess.run(["unshare", "--uts", "hostname", "probe"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"unshare --uts is not available ({exc}); it needs root"
    return None


def runner_hosts(campaign_id: int) -> set[str]:
    """The hosts whose runners claimed the campaign's deliveries."""
    from sqlalchemy import select

    from newsletter.store.campaigns import Delivery

    with session_scope() as session:
        owners = session.scalars(
            select(Delivery.claimed_by).where(Delivery.campaign_id == campaign_id).distinct()
        ).all()
    return {owner.rpartition(":")[0] for owner in owners if owner}


@pytest.mark.slow
@pytest.mark.postgres
def test_three_workers_on_three_hosts_killed_again_and_again_send_each_message_once(
    postgres: str,
    broker: str,
    mailbox: Mailbox,
    workers: Callable[..., Worker],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reason = _own_hosts_possible()
    if reason is not None:
        pytest.skip(reason)
    rng = random.Random()
    # Slow enough for several kills, whatever the machine; a dead worker's rows are
    # taken over after 10 s (another host's process cannot be checked).
    monkeypatch.setenv("NEWSLETTER_RATE_LIMIT", "150")
    monkeypatch.setenv("NEWSLETTER_SEND_LEASE_TIMEOUT", "10")
    get_settings.cache_clear()
    audience = populated_list(active=2000)
    result = cli("send", str(record(tmp_path)), "--list", "members", "--yes", "--queue")
    assert result.exit_code == 0, result.output
    campaign_id = campaign_of(result)
    hosts = ["host-a", "host-b", "host-c"]
    running = {host: workers(host=host) for host in hosts}

    for threshold in sorted(rng.sample(range(150, 1500), 3)):
        victim = rng.choice(hosts)
        wait_for(lambda t=threshold: len(mailbox.accepted) >= t, running[victim], timeout=60)
        running[victim].kill()
        running[victim] = workers(host=victim)

    waited = cli("campaigns", "wait", str(campaign_id), "--timeout", "180")
    logs = "\n".join(worker.output()[-3000:] for worker in running.values())
    assert waited.exit_code == 0, f"{waited.output}\n{logs}"
    received = message_ids(mailbox)
    assert sorted(received) == sorted(audience.eligible)
    # A copy sent again after a kill right at its end of data carries the same Message-ID.
    differing = {address: ids for address, ids in received.items() if len(set(ids)) > 1}
    assert differing == {}, f"different Message-IDs for one recipient: {differing}"
    twice = [address for address, ids in received.items() if len(ids) > 1]
    with session_scope() as session:
        from newsletter.store.campaigns import DeliveryState, delivery_counts, may_be_duplicated

        counts = delivery_counts(session, campaign_id)
        flagged = may_be_duplicated(session, campaign_id).get(campaign_id, 0)
    assert counts[DeliveryState.SENT] == len(received) == len(audience.eligible)
    assert len(twice) <= flagged, f"{len(twice)} sent twice, {flagged} counted as such"
    # All three hosts took part.
    assert runner_hosts(campaign_id) == set(hosts)


@pytest.mark.slow
@pytest.mark.postgres
def test_three_workers_share_one_rate_limit(
    postgres: str,
    broker: str,
    mailbox: Mailbox,
    workers: Callable[..., Worker],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, campaign_id = queued(tmp_path, monkeypatch, rate=30, active=900)
    started = [workers() for _ in range(3)]
    # Measured once all three send, over 20 s of the server's own clock.
    wait_for(lambda: len(runner_hosts_and_pids(campaign_id)) == 3, started[0], timeout=60)
    begin = len(mailbox.accepted)
    clock = time.monotonic()
    wait_for(lambda: time.monotonic() - clock >= 20, started[0], timeout=40)
    accepted = mailbox.accepted[begin:]
    span = accepted[-1].at - accepted[0].at
    rate = (len(accepted) - 1) / span
    assert 27 <= rate <= 33, f"{len(accepted)} messages in {span:.2f} s: {rate:.2f}/s"
    assert cli("campaigns", "cancel", str(campaign_id)).exit_code == 0


def runner_hosts_and_pids(campaign_id: int) -> set[str]:
    """The runners that claimed some of the campaign's deliveries."""
    from sqlalchemy import select

    from newsletter.store.campaigns import Delivery

    with session_scope() as session:
        return {
            owner
            for owner in session.scalars(
                select(Delivery.claimed_by).where(Delivery.campaign_id == campaign_id).distinct()
            ).all()
            if owner
        }


def live_runners(campaign_id: int) -> list[str]:
    from sqlalchemy import select

    from newsletter.store.campaigns import CampaignRunner

    with session_scope() as session:
        return list(
            session.scalars(
                select(CampaignRunner.owner).where(CampaignRunner.campaign_id == campaign_id)
            ).all()
        )


@pytest.mark.slow
@pytest.mark.postgres
def test_a_pause_reaches_every_worker_and_a_resume_sends_the_rest_once(
    postgres: str,
    broker: str,
    mailbox: Mailbox,
    workers: Callable[..., Worker],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    audience, campaign_id = queued(tmp_path, monkeypatch, rate=60, active=900)
    started = [workers() for _ in range(3)]
    wait_for(lambda: len(live_runners(campaign_id)) == 3, started[0], timeout=60)

    paused = cli("campaigns", "pause", str(campaign_id))
    assert paused.exit_code == 0, paused.output
    # Each runner stops at its next batch (about 2 s of the rate limit) and leaves.
    wait_for(lambda: live_runners(campaign_id) == [], started[0], timeout=15)
    stopped_at = len(mailbox.accepted)
    assert stopped_at < len(audience.eligible)
    assert cli("campaigns", "wait", str(campaign_id), "--timeout", "5").exit_code == 3
    # Nobody sends a paused campaign.
    assert len(mailbox.accepted) == stopped_at

    resumed = cli("campaigns", "resume", str(campaign_id), "--queue")
    assert resumed.exit_code == 0, resumed.output
    waited = cli("campaigns", "wait", str(campaign_id), "--timeout", "120")
    assert waited.exit_code == 0, waited.output
    received = message_ids(mailbox)
    assert sorted(received) == sorted(audience.eligible)
    assert all(len(ids) == 1 for ids in received.values()), received
