"""Scheduled sends (newsletter.sending.schedule): the time as typed, the campaign that
waits as `scheduled`, moving and cancelling it, the one poller that wins a due campaign,
and real `newsletter worker` processes on Redis and PostgreSQL that start it on time and
not before, across a restart.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from newsletter.core.errors import ConfigError
from newsletter.core.settings import get_settings
from newsletter.sending.schedule import POLL_INTERVAL, Poller, ScheduleError, parse_time, shown
from newsletter.sending.service import CampaignService
from newsletter.sending.worker import enqueue
from newsletter.store.campaigns import (
    Campaign,
    CampaignStateError,
    CampaignStatus,
    Delivery,
    DeliveryState,
    delivery_counts,
)
from newsletter.store.engine import build_engine
from newsletter.store.lists import ListSummary
from tests.sending.helpers import Audience, populated_list, sending_settings, small_issue
from tests.sending.test_worker import (
    REDIS,
    Worker,
    _reachable,
    campaign_of,
    cli,
    delete_queue,
    mailbox,  # noqa: F401 (a fixture)
    postgres,  # noqa: F401 (a fixture)
    record,
    workers,  # noqa: F401 (a fixture)
)
from tests.store.databases import current_engine, session_scope
from tests.transports.smtp_servers import Mailbox, free_port

PLUS_FIVE = timezone(timedelta(hours=5))


def _now() -> datetime:
    return datetime.now(UTC)


def _at(seconds: float) -> str:
    """A moment `seconds` from now, as typed: whole seconds, at UTC+05:00."""
    moment = (_now() + timedelta(seconds=seconds)).astimezone(PLUS_FIVE)
    return moment.isoformat(timespec="seconds")


def _campaign(campaign_id: int) -> Campaign:
    with session_scope() as session:
        found = session.get(Campaign, campaign_id)
        assert found is not None
        session.expunge(found)
        return found


def _service(**changes: object) -> CampaignService:
    settings = sending_settings(**{"broker_url": f"{REDIS}/1", **changes})
    return CampaignService(settings, current_engine())


def _audience(service: CampaignService, audience: Audience) -> ListSummary:
    return service.audience(audience.name)


def _scheduled(service: CampaignService, audience: Audience, at: datetime) -> int:
    return service.create_scheduled(small_issue(), _audience(service, audience), "smtp", at)


# The time as typed


def test_a_time_with_an_offset_is_read_as_that_moment() -> None:
    assert parse_time("2026-12-05T09:00+05:00") == datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
    assert parse_time("2026-12-05T09:00:30Z") == datetime(2026, 12, 5, 9, 0, 30, tzinfo=UTC)


def test_a_time_without_an_offset_is_refused_unless_a_zone_is_given() -> None:
    with pytest.raises(ScheduleError, match=r"has no zone offset.*2026-12-05T09:00\+05:00"):
        parse_time("2026-12-05T09:00")
    from zoneinfo import ZoneInfo

    karachi = ZoneInfo("Asia/Karachi")
    assert parse_time("2026-12-05T09:00", karachi) == datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
    # An offset written out wins over the zone.
    assert parse_time("2026-12-05T09:00Z", karachi) == datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert shown(datetime(2026, 12, 5, 4, 0, tzinfo=UTC), karachi) == "2026-12-05 09:00 PKT"


def test_what_is_not_a_time_is_refused() -> None:
    with pytest.raises(ScheduleError, match="'next friday' is not a date and time"):
        parse_time("next friday")


# The campaign that waits


def test_a_scheduled_campaign_waits_as_scheduled_and_shows_its_time(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = _service()
    audience = populated_list(active=3)
    at = _now() + timedelta(hours=2)
    campaign_id = _scheduled(service, audience, at)
    campaign = _campaign(campaign_id)
    assert campaign.status is CampaignStatus.SCHEDULED
    assert campaign.scheduled_at == at
    assert campaign.started_at is None
    with session_scope() as session:
        assert delivery_counts(session, campaign_id)[DeliveryState.PENDING] == 3
    # Not due: a poll starts nothing.
    assert service.start_due() == []
    assert _campaign(campaign_id).status is CampaignStatus.SCHEDULED

    monkeypatch.setenv("NEWSLETTER_TIME_ZONE", "Asia/Karachi")
    get_settings.cache_clear()
    listed = cli("campaigns", "list")
    assert listed.exit_code == 0, listed.output
    assert any(
        line.split()[:2] == [str(campaign_id), "scheduled"] for line in listed.stdout.splitlines()
    ), listed.stdout
    local = at.astimezone(PLUS_FIVE).strftime("%Y-%m-%d %H:%M")
    assert f"{campaign_id} scheduled for {local} PKT" in listed.stdout
    as_json = json.loads(cli("campaigns", "list", "--json").stdout)
    assert as_json[0]["status"] == "scheduled"
    assert datetime.fromisoformat(as_json[0]["scheduled_at"]) == at


def test_a_past_time_is_refused_and_nothing_is_recorded(db: str) -> None:
    service = _service()
    audience = populated_list(active=2)
    with pytest.raises(ScheduleError, match="is in the past"):
        _scheduled(service, audience, _now() - timedelta(seconds=1))
    with pytest.raises(ScheduleError, match="is in the past"):
        service.read_time("2020-01-01T09:00+05:00")
    with session_scope() as session:
        assert session.scalars(select(Campaign.id)).all() == []


def test_without_a_broker_a_scheduled_send_is_refused(db: str) -> None:
    service = CampaignService(sending_settings(broker_url=""), current_engine())
    audience = populated_list(active=2)
    with pytest.raises(ConfigError, match=r"NEWSLETTER_BROKER_URL.*`newsletter worker`"):
        _scheduled(service, audience, _now() + timedelta(hours=1))


def test_a_scheduled_campaign_is_moved_and_cancelled_before_it_starts(db: str) -> None:
    service = _service()
    audience = populated_list(active=2)
    campaign_id = _scheduled(service, audience, _now() + timedelta(hours=1))
    later = _now() + timedelta(hours=3)
    service.reschedule(campaign_id, later)
    assert _campaign(campaign_id).scheduled_at == later
    with pytest.raises(ScheduleError, match="in the past"):
        service.reschedule(campaign_id, _now() - timedelta(minutes=1))

    cancelled = service.cancel(campaign_id)
    assert cancelled.skipped == 2
    assert _campaign(campaign_id).status is CampaignStatus.CANCELLED
    # Once it is not waiting any more, it cannot be moved.
    with pytest.raises(CampaignStateError, match="is cancelled; only a scheduled campaign"):
        service.reschedule(campaign_id, later)


def test_a_due_campaign_is_started_by_one_poller_only(db: str) -> None:
    """Pollers on engines of their own, at the same moment: each due campaign is started
    (moved to sending, to be handed over) exactly once."""
    audience = populated_list(active=2)
    service = _service()
    ids = [_scheduled(service, audience, _now() + timedelta(hours=1)) for _ in range(5)]
    # Made due by hand: the schedule cannot be set in the past through the service.
    with session_scope(write=True) as session:
        for campaign in session.scalars(select(Campaign)):
            campaign.scheduled_at = _now() - timedelta(seconds=1)
    pollers = 4
    barrier = threading.Barrier(pollers)
    started: list[list[int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def poll() -> None:
        engine = build_engine(str(current_engine().url.render_as_string(hide_password=False)))
        try:
            own = CampaignService(service.settings, engine)
            barrier.wait(timeout=10)
            found = own.start_due()
            with lock:
                started.append(found)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=poll) for _ in range(pollers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    every = [campaign_id for found in started for campaign_id in found]
    assert sorted(every) == sorted(ids)
    for campaign_id in ids:
        campaign = _campaign(campaign_id)
        assert campaign.status is CampaignStatus.SENDING
        assert campaign.started_at is not None


def test_a_due_campaign_the_broker_cannot_take_is_tried_again_at_the_next_look(
    db: str,
) -> None:
    """Won while the broker is down: put back as scheduled (not left sending with nobody
    on it), and handed over by the first look after the broker is back."""
    audience = populated_list(active=2)
    queue = f"test-{uuid.uuid4().hex[:12]}"
    down = _service(broker_url=f"redis://127.0.0.1:{free_port()}/0", broker_queue=queue)
    campaign_id = _scheduled(down, audience, _now() + timedelta(hours=1))
    with session_scope(write=True) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.scheduled_at = _now() - timedelta(seconds=1)

    poller = Poller(down.start_due, lambda key: enqueue(down.settings, key), down.unstart)
    assert poller.round() == []
    campaign = _campaign(campaign_id)
    assert campaign.status is CampaignStatus.SCHEDULED and campaign.started_at is None

    url = f"{REDIS}/{random.randint(1, 14)}"
    _reachable(url)
    up = _service(broker_url=url, broker_queue=queue)
    try:
        poller = Poller(up.start_due, lambda key: enqueue(up.settings, key), up.unstart)
        assert poller.round() == [campaign_id]
        assert _campaign(campaign_id).status is CampaignStatus.SENDING
        client = redis.Redis.from_url(url)
        try:
            assert client.llen(queue) == 1
        finally:
            client.close()
    finally:
        delete_queue(url, queue)


# The commands


def test_send_at_refuses_a_time_without_offset_or_in_the_past(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", f"{REDIS}/1")
    get_settings.cache_clear()
    populated_list(active=2)
    path = str(record(tmp_path))
    base = ("send", path, "--list", "members", "--yes", "--queue")
    no_zone = cli(*base, "--at", "2031-12-05T09:00")
    assert no_zone.exit_code == 1
    assert "error: --at: '2031-12-05T09:00' has no zone offset" in no_zone.output
    past = cli(*base, "--at", "2020-12-05T09:00+05:00")
    assert past.exit_code == 1
    assert "error: --at: 2020-12-05 04:00 UTC is in the past" in past.output
    dry = cli("send", path, "--list", "members", "--dry-run", "--at", _at(3600))
    assert dry.exit_code == 1
    assert "--at schedules a send to the list" in dry.output
    with session_scope() as session:
        assert session.scalars(select(Campaign.id)).all() == []


def test_send_at_without_a_broker_says_what_to_configure(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", "")
    get_settings.cache_clear()
    populated_list(active=2)
    result = cli("send", str(record(tmp_path)), "--list", "members", "--yes", "--at", _at(60))
    assert result.exit_code == 1
    assert "error: --at needs a broker for the sending workers: set NEWSLETTER_BROKER_URL" in (
        result.output
    )
    assert "start `newsletter worker`" in result.output
    with session_scope() as session:
        assert session.scalars(select(Campaign.id)).all() == []


def test_campaigns_schedule_moves_it_and_wait_says_it_is_scheduled(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", f"{REDIS}/1")
    monkeypatch.setenv("NEWSLETTER_FROM", "MUSLIM Institute <newsletter@example.org>")
    get_settings.cache_clear()
    service = _service()
    audience = populated_list(active=2)
    campaign_id = _scheduled(service, audience, _now() + timedelta(hours=1))

    text = _at(7200)
    moved = cli("campaigns", "schedule", str(campaign_id), "--at", text)
    assert moved.exit_code == 0, moved.output
    assert _campaign(campaign_id).scheduled_at == datetime.fromisoformat(text)
    assert moved.stdout.strip() == (
        f"campaign {campaign_id} scheduled for "
        f"{datetime.fromisoformat(text).astimezone(UTC).strftime('%Y-%m-%d %H:%M')} UTC"
    )
    refused = cli("campaigns", "schedule", str(campaign_id), "--at", "2031-01-01T09:00")
    assert refused.exit_code == 1
    assert "has no zone offset" in refused.output

    waited = cli("campaigns", "wait", str(campaign_id), "--timeout", "0.5")
    assert waited.exit_code == 1
    assert f"campaign {campaign_id} is scheduled for " in waited.output
    assert "still scheduled" in waited.output

    resumed = cli("campaigns", "resume", str(campaign_id))
    assert resumed.exit_code == 1
    assert "is scheduled for" in resumed.output
    assert _campaign(campaign_id).status is CampaignStatus.SCHEDULED

    cancelled = cli("campaigns", "cancel", str(campaign_id))
    assert cancelled.exit_code == 0, cancelled.output
    assert _campaign(campaign_id).status is CampaignStatus.CANCELLED
    again = cli("campaigns", "schedule", str(campaign_id), "--at", _at(7200))
    assert again.exit_code == 1
    assert "is cancelled; only a scheduled campaign" in again.output


# Real workers


@pytest.fixture
def redis_broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A Redis database and a queue of this test's own, set in the environment."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    url = f"{REDIS}/{random.randint(1, 14)}"
    _reachable(url)
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", url)
    monkeypatch.setenv("NEWSLETTER_RATE_REDIS_URL", f"{REDIS}/15")
    monkeypatch.setenv("NEWSLETTER_BROKER_QUEUE", queue)
    get_settings.cache_clear()
    try:
        yield url
    finally:
        delete_queue(url, queue)


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s in vain for {what}"
        time.sleep(0.02)


def _ready(worker: Worker) -> Callable[[], bool]:
    def ready() -> bool:
        assert worker.alive(), worker.output()
        return " ready." in worker.output()

    return ready


def _accepted_wall_times(box: Mailbox) -> list[datetime]:
    """When the server accepted each message, on the wall clock (it records monotonic)."""
    offset = time.time() - time.monotonic()
    return [datetime.fromtimestamp(m.at + offset, UTC) for m in list(box.accepted)]


def _status(campaign_id: int) -> CampaignStatus:
    return _campaign(campaign_id).status


def _sent_times(campaign_id: int) -> list[datetime]:
    with session_scope() as session:
        return [
            moment
            for moment in session.scalars(
                select(Delivery.committed_at).where(
                    Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.SENT
                )
            )
            if moment is not None
        ]


def _small_list(name: str, size: int = 3) -> None:
    """A list of its own addresses (populated_list's are the same on every list)."""
    from newsletter.store.lists import create_list
    from newsletter.store.subscriptions import subscribe

    with session_scope(write=True) as session:
        list_id = create_list(session, name).id
        for number in range(size):
            subscribe(session, list_id, f"{name}{number}@example.net", source="test")


def _schedule_by_cli(folder: Path, list_name: str, seconds: float) -> tuple[int, datetime]:
    text = _at(seconds)
    result = cli("send", str(record(folder)), "--list", list_name, "--yes", "--queue", "--at", text)
    assert result.exit_code == 0, result.output
    assert "scheduled for " in result.output
    return campaign_of(result), datetime.fromisoformat(text)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_scheduled_send_goes_out_at_its_time_and_not_before(
    postgres: str,  # noqa: F811
    redis_broker: str,
    mailbox: Mailbox,  # noqa: F811
    workers: Callable[..., Worker],  # noqa: F811
    tmp_path: Path,
) -> None:
    audience = populated_list(active=10)
    worker = workers()
    _wait_until(_ready(worker), "the worker to be ready")
    campaign_id, at = _schedule_by_cli(tmp_path, "members", 5)
    assert _status(campaign_id) is CampaignStatus.SCHEDULED
    waited = cli("campaigns", "wait", str(campaign_id), "--timeout", "60")
    assert waited.exit_code == 0, f"{waited.output}\n{worker.output()}"
    assert f"campaign {campaign_id} is scheduled for " in waited.output
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)
    accepted = _accepted_wall_times(mailbox)
    assert min(accepted) >= at, (min(accepted), at)
    # And not long after: the next poll, give or take the machine.
    assert min(accepted) - at < timedelta(seconds=POLL_INTERVAL + 10)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_scheduled_send_survives_a_worker_restart(
    postgres: str,  # noqa: F811
    redis_broker: str,
    mailbox: Mailbox,  # noqa: F811
    workers: Callable[..., Worker],  # noqa: F811
    tmp_path: Path,
) -> None:
    audience = populated_list(active=6)
    first = workers()
    _wait_until(_ready(first), "the first worker to be ready")
    campaign_id, at = _schedule_by_cli(tmp_path, "members", 3)
    first.kill()
    # Due with no worker running: it waits, in the database.
    _wait_until(lambda: _now() > at + timedelta(seconds=1), "the time to pass")
    assert _status(campaign_id) is CampaignStatus.SCHEDULED
    assert mailbox.accepted == []

    second = workers()
    waited = cli("campaigns", "wait", str(campaign_id), "--timeout", "60")
    assert waited.exit_code == 0, f"{waited.output}\n{second.output()}"
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)
    assert min(_accepted_wall_times(mailbox)) >= at


@pytest.mark.slow
@pytest.mark.postgres
def test_a_scheduled_send_cancelled_or_moved_before_it_starts(
    postgres: str,  # noqa: F811
    redis_broker: str,
    mailbox: Mailbox,  # noqa: F811
    workers: Callable[..., Worker],  # noqa: F811
    tmp_path: Path,
) -> None:
    for name in ("cancelled", "moved", "witness"):
        _small_list(name)
    worker = workers()
    _wait_until(_ready(worker), "the worker to be ready")
    cancelled, _ = _schedule_by_cli(tmp_path, "cancelled", 3)
    moved, _ = _schedule_by_cli(tmp_path, "moved", 3)
    # Sent once the pollers have gone past the others' first time.
    witness, witness_at = _schedule_by_cli(tmp_path, "witness", 5)
    assert cli("campaigns", "cancel", str(cancelled)).exit_code == 0
    later = _at(9)
    assert cli("campaigns", "schedule", str(moved), "--at", later).exit_code == 0

    assert cli("campaigns", "wait", str(witness), "--timeout", "60").exit_code == 0
    assert min(_sent_times(witness)) >= witness_at
    assert _status(cancelled) is CampaignStatus.CANCELLED
    assert _sent_times(cancelled) == []
    assert _status(moved) is CampaignStatus.SCHEDULED
    assert _sent_times(moved) == []

    waited = cli("campaigns", "wait", str(moved), "--timeout", "60")
    assert waited.exit_code == 0, f"{waited.output}\n{worker.output()}"
    assert min(_sent_times(moved)) >= datetime.fromisoformat(later)
    assert len(_sent_times(moved)) == 3
