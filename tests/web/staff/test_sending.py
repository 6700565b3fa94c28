"""Sending from the staff area, over HTTP: a test message, a send to a list through a real
SMTP server (aiosmtpd), its progress as JSON, and pause, resume and cancel."""

from __future__ import annotations

import asyncio
import datetime
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from newsletter.core.settings import Settings, get_settings
from newsletter.store.engine import dispose_engine, get_engine, session_scope
from newsletter.store.lists import create_list
from newsletter.store.staff import add_user
from newsletter.store.subscriptions import subscribe
from newsletter.web import create_app
from tests.sending.helpers import populated_list
from tests.store.databases import current_engine
from tests.transports.smtp_servers import Mailbox
from tests.web.helpers import new_campaign, parse, rows
from tests.web.staff.helpers import (
    EMAIL,
    PASSWORD,
    csrf_of,
    logged_in,
    login,
    sending_browser,
)

RECORD = "dir:khojaly-seminar-2022/record.yaml"
SUBJECT = "Seminar: Genocide and Ethnic cleansing: A Crime against Humanity"

GET_ROUTES = [
    f"/staff/send?record={RECORD}",
    f"/staff/send?record={RECORD}&list=1",
    "/staff/campaigns/1",
    "/staff/campaigns/1/progress",
]
POST_ROUTES = [
    "/staff/preview/test",
    "/staff/send",
    "/staff/campaigns/1/pause",
    "/staff/campaigns/1/resume",
    "/staff/campaigns/1/cancel",
]


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """10 messages a second: batches of 20, so a send of 40 takes about 4 s. Name it before
    `client` in a test's arguments: the app reads its settings when `client` makes it."""
    monkeypatch.setenv("NEWSLETTER_RATE_LIMIT", "10")
    get_settings.cache_clear()


@pytest.fixture
def client(db: str, sending: None, mailbox: Mailbox, records_dir: None) -> Iterator[TestClient]:
    with sending_browser(create_app(Settings())) as test_client:
        yield test_client


def _campaigns() -> int:
    return int(rows("SELECT count(*) FROM campaigns")[0][0])


def _progress(client: TestClient, campaign_id: int) -> dict[str, Any]:
    response = client.get(f"/staff/campaigns/{campaign_id}/progress")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data: dict[str, Any] = response.json()
    return data


def _settled(client: TestClient, campaign_id: int, timeout: float = 20.0) -> dict[str, Any]:
    """The progress once no runner works on the campaign any more."""
    deadline = time.monotonic() + timeout
    while True:
        data = _progress(client, campaign_id)
        if not data["running"]:
            return data
        assert time.monotonic() < deadline, f"campaign {campaign_id} still running: {data}"
        time.sleep(0.05)


def _once(client: TestClient, list_id: int) -> str:
    """The one-time key of a fresh confirmation form."""
    page = client.get(f"/staff/send?record={RECORD}&list={list_id}")
    match = re.search(r'name="once" value="([^"]+)"', page.text)
    assert match is not None, page.text
    return match.group(1)


def _start(client: TestClient, token: str, list_id: int, once: str | None = None) -> int:
    fields = {"csrf": token, "record": RECORD, "list": list_id}
    fields["once"] = once or _once(client, list_id)
    response = client.post("/staff/send", data=fields)
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/staff/campaigns/(\d+)", response.headers["location"])
    assert match is not None, response.headers["location"]
    return int(match.group(1))


@pytest.mark.parametrize("path", GET_ROUTES)
def test_every_page_needs_a_login(sqlite_client: TestClient, path: str) -> None:
    response = sqlite_client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login?next=%2Fstaff%2F")


@pytest.mark.parametrize("path", POST_ROUTES)
def test_every_form_needs_a_login(sqlite_client: TestClient, path: str) -> None:
    response = sqlite_client.post(path, data={"csrf": "x", "record": RECORD, "list": "1"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login")


@pytest.mark.parametrize("path", POST_ROUTES)
def test_every_form_needs_its_csrf_token(client: TestClient, mailbox: Mailbox, path: str) -> None:
    logged_in(client)
    audience = populated_list(active=2)
    fields = {"record": RECORD, "list": str(audience.id), "address": "qa@example.org"}
    assert client.post(path, data=fields).status_code == 403
    assert client.post(path, data={**fields, "csrf": "forged-token"}).status_code == 403
    assert mailbox.accepted == []
    assert _campaigns() == 0


def test_a_test_message_goes_to_one_address_only(client: TestClient, mailbox: Mailbox) -> None:
    token = logged_in(client)
    populated_list(active=3)
    preview = client.get(f"/staff/preview?record={RECORD}")
    assert 'action="/staff/preview/test"' in preview.text
    response = client.post(
        "/staff/preview/test",
        data={"csrf": token, "record": RECORD, "address": " QA@Example.org "},
    )
    assert response.status_code == 200, response.text
    assert "A test message went to <strong>QA@example.org</strong>" in response.text
    assert mailbox.recipients() == ["QA@example.org"]
    message = parse(mailbox.accepted[0].data)
    # Folded after "Subject:" (the stdlib's folding of a line just over 78 characters),
    # which Python's parser reads as a leading space.
    assert message["Subject"].lstrip() == f"[Test] {SUBJECT}"
    assert message["To"] == "Test Recipient <QA@example.org>"
    # Like `send --test-to`: no campaign, no delivery.
    assert _campaigns() == 0
    assert rows("SELECT count(*) FROM deliveries") == [(0,)]


def test_a_test_message_needs_an_address(client: TestClient, mailbox: Mailbox) -> None:
    token = logged_in(client)
    response = client.post(
        "/staff/preview/test", data={"csrf": token, "record": RECORD, "address": "not mail"}
    )
    assert response.status_code == 400
    assert "not an email address" in response.text
    assert mailbox.accepted == []


def test_the_confirmation_shows_the_recipient_count(client: TestClient, mailbox: Mailbox) -> None:
    logged_in(client)
    audience = populated_list(active=7)
    choice = client.get(f"/staff/send?record={RECORD}")
    assert choice.status_code == 200
    assert f'<option value="{audience.id}">members (7 recipients)</option>' in choice.text
    page = client.get(f"/staff/send?record={RECORD}&list={audience.id}")
    assert page.status_code == 200
    # Seven active members; the unsubscribed, suppressed and unconfirmed ones and the
    # member of another list are not counted, the address in other case counted once.
    assert '<strong id="recipient-count">7</strong>' in page.text
    assert f'<dd id="subject">{SUBJECT}</dd>' in page.text
    assert "Send to 7 recipients" in page.text
    # Nothing is sent or recorded before the confirmation is posted.
    assert mailbox.accepted == []
    assert _campaigns() == 0
    assert client.get(f"/staff/send?record={RECORD}&list=999").status_code == 404
    assert client.get("/staff/send?record=dir:../pyproject.toml").status_code == 404


def test_a_send_completes_and_its_progress_matches(client: TestClient, mailbox: Mailbox) -> None:
    token = logged_in(client)
    audience = populated_list(active=5)
    campaign_id = _start(client, token, audience.id)
    page = client.get(f"/staff/campaigns/{campaign_id}")
    assert page.status_code == 200
    assert f'data-poll-progress="/staff/campaigns/{campaign_id}/progress"' in page.text
    data = _settled(client, campaign_id)
    assert data["status"] == "done"
    assert (data["total"], data["sent"], data["failed"], data["left"]) == (5, 5, 0, 0)
    assert data["done"] == 5
    assert data["time_left"] == "0 s"
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)
    assert {parse(m.data)["Subject"] for m in mailbox.accepted} == {SUBJECT}
    done_page = client.get(f"/staff/campaigns/{campaign_id}")
    assert '<strong data-field="status" id="status">done</strong>' in done_page.text
    # A finished campaign can be neither paused nor cancelled.
    for action in ("pause", "cancel"):
        refused = client.post(f"/staff/campaigns/{campaign_id}/{action}", data={"csrf": token})
        assert refused.status_code == 409
    assert client.get("/staff/campaigns/999/progress").status_code == 404


def test_the_rate_and_time_left_show_while_sending(
    client: TestClient, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = logged_in(client)
    audience = populated_list(active=40)
    # The server holds its reply to the last recipient's message until the test lets it go,
    # so the page is read while that message is in flight: the campaign cannot be done, on
    # any machine. Deliveries go in subscriber order, so that message is the last batch's
    # and every batch before it is settled (the rate counts them) by the time it arrives.
    last = audience.eligible[-1]
    holding, release = threading.Event(), threading.Event()
    answer = mailbox.handle_DATA

    async def held(server: Any, session: Any, envelope: Any) -> str:
        if envelope.rcpt_tos == [last]:
            holding.set()
            await asyncio.get_running_loop().run_in_executor(None, release.wait, 60)
        return await answer(server, session, envelope)

    # aiosmtpd looks its hooks up on the handler when a connection opens; none is open yet.
    monkeypatch.setattr(mailbox, "handle_DATA", held)
    try:
        campaign_id = _start(client, token, audience.id)
        assert holding.wait(30), f"the message to {last} never reached the server"
        data = _progress(client, campaign_id)
    finally:
        release.set()
    assert data["running"] is True
    assert data["status"] == "sending"
    assert data["sent"] > 0
    assert 0 < data["rate"] <= 40
    assert 1 <= data["left"] < 40
    assert data["seconds_left"] is not None and data["seconds_left"] > 0
    final = _settled(client, campaign_id)
    assert (final["status"], final["sent"]) == ("done", 40)
    assert mailbox.recipients()[-1] == last


def test_pause_stops_the_send_and_resume_finishes_it(
    slow: None, client: TestClient, mailbox: Mailbox
) -> None:
    token = logged_in(client)
    audience = populated_list(active=40)
    campaign_id = _start(client, token, audience.id)
    paused = client.post(f"/staff/campaigns/{campaign_id}/pause", data={"csrf": token})
    assert paused.status_code == 303
    data = _settled(client, campaign_id)
    assert data["status"] == "paused"
    assert data["reason"].startswith("paused by comms@example.org")
    assert data["left"] > 0
    assert data["sent"] == len(mailbox.accepted) < 40
    time.sleep(1.0)
    assert len(mailbox.accepted) == data["sent"], "mail went out after the pause"
    page = client.get(f"/staff/campaigns/{campaign_id}")
    assert re.search(r'action="[^"]+/resume" data-when-status="[^"]+">', page.text)
    resumed = client.post(f"/staff/campaigns/{campaign_id}/resume", data={"csrf": token})
    assert resumed.status_code == 303
    final = _settled(client, campaign_id)
    assert (final["status"], final["sent"], final["left"]) == ("done", 40, 0)
    # Each recipient once, over both runs.
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)


def test_cancel_skips_what_is_left(slow: None, client: TestClient, mailbox: Mailbox) -> None:
    token = logged_in(client)
    audience = populated_list(active=40)
    campaign_id = _start(client, token, audience.id)
    cancelled = client.post(f"/staff/campaigns/{campaign_id}/cancel", data={"csrf": token})
    assert cancelled.status_code == 303
    data = _settled(client, campaign_id)
    assert data["status"] == "cancelled"
    assert data["left"] == 0
    assert data["skipped"] > 0
    assert data["sent"] + data["skipped"] == 40
    time.sleep(1.0)
    assert len(mailbox.accepted) == data["sent"]
    refused = client.post(f"/staff/campaigns/{campaign_id}/resume", data={"csrf": token})
    assert refused.status_code == 409


def test_an_interrupted_campaign_is_resumed(client: TestClient, mailbox: Mailbox) -> None:
    token = logged_in(client)
    audience = populated_list(active=4)
    # Being sent, as far as the store knows, but nobody sends it: a server that stopped.
    campaign_id = new_campaign(audience.id, list_name=audience.name).id
    data = _progress(client, campaign_id)
    assert (data["status"], data["running"], data["left"]) == ("interrupted", False, 4)
    page = client.get(f"/staff/campaigns/{campaign_id}")
    assert re.search(r'action="[^"]+/resume" data-when-status="[^"]+">', page.text)
    resumed = client.post(f"/staff/campaigns/{campaign_id}/resume", data={"csrf": token})
    assert resumed.status_code == 303
    final = _settled(client, campaign_id)
    assert (final["status"], final["sent"], final["error"]) == ("done", 4, "")
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)


def test_a_confirmation_submitted_twice_sends_once(client: TestClient, mailbox: Mailbox) -> None:
    token = logged_in(client)
    audience = populated_list(active=3)
    once = _once(client, audience.id)
    first = _start(client, token, audience.id, once)
    second = _start(client, token, audience.id, once)
    assert second == first
    assert _campaigns() == 1
    _settled(client, first)
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)
    # Without its one-time key the form is refused, and nothing is made.
    stale = client.post("/staff/send", data={"csrf": token, "record": RECORD, "list": audience.id})
    assert stale.status_code == 400
    assert _campaigns() == 1
    # A fresh confirmation is a deliberate second send.
    assert _start(client, token, audience.id) != first


def test_an_app_on_other_settings_sends_from_its_own_database_only(
    db: str, sending: None, mailbox: Mailbox, records_dir: None, tmp_path: Path
) -> None:
    """The environment names one database (the `db` fixture's); the app is built with
    settings naming another. The campaign, and everything its runner writes, is there."""
    url = f"sqlite:///{tmp_path / 'app' / 'newsletter.db'}"
    engine = get_engine(url)
    with session_scope(engine, write=True) as session:
        add_user(session, EMAIL, PASSWORD)
        list_id = create_list(session, "members").id
        for address in ("a1@example.net", "a2@example.net"):
            subscribe(session, list_id, address, source="test")
    app = create_app(Settings(database_url=url))
    try:
        with sending_browser(app) as client:
            assert login(client).status_code == 303
            token = csrf_of(client.get("/staff/").text)
            campaign_id = _start(client, token, list_id)
            final = _settled(client, campaign_id)
    finally:
        dispose_engine(url)
    assert (final["status"], final["sent"], final["error"]) == ("done", 2, "")
    assert sorted(mailbox.recipients()) == ["a1@example.net", "a2@example.net"]
    # The database the environment names saw none of it.
    assert _campaigns() == 0
    assert rows("SELECT count(*) FROM lists") == [(0,)]


def test_a_finished_campaign_shows_when_it_finished_and_how_long_it_took(
    client: TestClient, mailbox: Mailbox
) -> None:
    token = logged_in(client)
    campaign_id = _start(client, token, populated_list(active=3).id)
    sending_page = client.get(f"/staff/campaigns/{campaign_id}").text
    # Filled in by the page's poll when it finishes, so it is there, hidden, from the start.
    assert '<strong data-field="took">' in sending_page
    data = _settled(client, campaign_id)
    assert data["finished_at"].endswith(" UTC") and data["took"].endswith(" s")
    done_page = client.get(f"/staff/campaigns/{campaign_id}").text
    shown = re.search(r'<p id="finished" data-when-status="done cancelled">(.*?)</p>', done_page)
    assert shown is not None, "the finish line is hidden or missing"
    assert f'<strong data-field="finished_at">{data["finished_at"]}</strong>' in shown.group(1)
    assert f'<strong data-field="took">{data["took"]}</strong>' in shown.group(1)
    listed = client.get("/staff/campaigns").text
    assert f"finished {data['finished_at']}, took {data['took']}" in listed


def test_the_confirmation_warns_when_the_issue_already_went_to_the_list(
    client: TestClient, mailbox: Mailbox
) -> None:
    token = logged_in(client)
    audience = populated_list(active=3)
    first = client.get(f"/staff/send?record={RECORD}&list={audience.id}")
    assert 'id="sent-before"' not in first.text
    _settled(client, _start(client, token, audience.id))
    with session_scope(current_engine(), write=True) as session:
        subscribe(session, audience.id, "new@example.net", source="test")
        other = create_list(session, "guests").id
        subscribe(session, other, audience.eligible[0], source="test")
        subscribe(session, other, "guest@example.net", source="test")

    again = client.get(f"/staff/send?record={RECORD}&list={audience.id}")

    assert again.status_code == 200
    assert "This issue already went to members" in again.text
    assert '<strong id="already-received">3</strong> of its 4 recipients' in again.text
    assert "Send again to 4 recipients" in again.text
    # Another list: not sent to it, but one of its two recipients has it already.
    guests = client.get(f"/staff/send?record={RECORD}&list={other}")
    assert "already went" not in guests.text
    assert '<strong id="already-received">1</strong> of the 2 recipients' in guests.text
    assert "Send to 2 recipients" in guests.text


@pytest.mark.slow
def test_with_a_broker_a_send_is_handed_to_a_worker(
    db: str,
    sending: None,
    mailbox: Mailbox,
    records_dir: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import random
    import uuid

    from newsletter.web.staff.senders import senders
    from tests.sending.test_worker import Worker, delete_queue

    queue = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", f"redis://127.0.0.1:6379/{random.randint(1, 15)}")
    monkeypatch.setenv("NEWSLETTER_BROKER_QUEUE", queue)
    get_settings.cache_clear()
    worker: Worker | None = None
    try:
        with sending_browser(create_app(Settings())) as client:
            token = logged_in(client)
            audience = populated_list(active=4)
            campaign_id = _start(client, token, audience.id)
            # Handed over, not sent by a thread of the server.
            assert not senders.running(campaign_id)
            assert _progress(client, campaign_id)["status"] == "interrupted"
            worker = Worker(tmp_path)
            deadline = time.monotonic() + 60
            while (data := _progress(client, campaign_id))["status"] != "done":
                assert worker.alive(), worker.output()
                assert time.monotonic() < deadline, worker.output()
                time.sleep(0.05)
    finally:
        if worker is not None:
            worker.stop()
        delete_queue(get_settings().broker_url, queue)
    assert (data["sent"], data["left"]) == (4, 0)
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)


# Scheduled sends (newsletter.sending.schedule): through the workers, so with a broker;
# none of these reaches a worker, so none is running.


def _broker(monkeypatch: pytest.MonkeyPatch, url: str = "redis://127.0.0.1:6379/1") -> None:
    monkeypatch.setenv("NEWSLETTER_BROKER_URL", url)
    monkeypatch.setenv("NEWSLETTER_TIME_ZONE", "Asia/Karachi")
    get_settings.cache_clear()


def _local(moment: datetime.datetime) -> str:
    """A moment as a datetime-local field holds it, in Asia/Karachi (UTC+05:00)."""
    return moment.astimezone(KARACHI).strftime("%Y-%m-%dT%H:%M")


def _scheduled_at(campaign_id: int) -> datetime.datetime:
    found = rows(f"SELECT status, scheduled_at FROM campaigns WHERE id = {campaign_id}")[0]
    assert found[0] == "scheduled", found
    moment = found[1]
    if isinstance(moment, str):  # SQLite hands back text
        moment = datetime.datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment  # type: ignore[no-any-return]


KARACHI = datetime.timezone(datetime.timedelta(hours=5))


def test_a_send_is_scheduled_moved_and_cancelled_from_the_staff_pages(
    db: str,
    sending: None,
    mailbox: Mailbox,
    records_dir: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _broker(monkeypatch)
    with sending_browser(create_app(Settings())) as client:
        token = logged_in(client)
        audience = populated_list(active=3)
        page = client.get(f"/staff/send?record={RECORD}&list={audience.id}")
        assert 'type="datetime-local" id="at" name="at"' in page.text
        assert "your time zone: Asia/Karachi" in page.text

        soon = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=2)).replace(
            second=0, microsecond=0
        )
        fields = {"csrf": token, "record": RECORD, "list": audience.id, "at": _local(soon)}
        fields["once"] = _once(client, audience.id)
        response = client.post("/staff/send", data=fields)
        assert response.status_code == 303, response.text
        campaign_id = int(response.headers["location"].rsplit("/", 1)[1])
        # The form's time was Karachi's: the stored moment is two hours from now.
        assert _scheduled_at(campaign_id) == soon

        page = client.get(f"/staff/campaigns/{campaign_id}")
        shown = soon.astimezone(KARACHI).strftime("%Y-%m-%d %H:%M")
        assert f'Scheduled for <strong id="scheduled-at">{shown} PKT</strong>' in page.text
        assert f'name="at" value="{_local(soon)}" required' in page.text
        assert '<p id="scheduled" data-when-status="scheduled">' in page.text
        assert _progress(client, campaign_id)["status"] == "scheduled"
        listed = client.get("/staff/campaigns")
        assert f"<span data-scheduled>for {shown} PKT</span>" in listed.text

        later = soon + datetime.timedelta(hours=1)
        moved = client.post(
            f"/staff/campaigns/{campaign_id}/schedule", data={"csrf": token, "at": _local(later)}
        )
        assert moved.status_code == 303, moved.text
        assert _scheduled_at(campaign_id) == later
        # With an offset of its own, the time is taken as written.
        utc = (later + datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%MZ")
        moved = client.post(
            f"/staff/campaigns/{campaign_id}/schedule", data={"csrf": token, "at": utc}
        )
        assert moved.status_code == 303, moved.text
        assert _scheduled_at(campaign_id) == later + datetime.timedelta(minutes=5)
        past = client.post(
            f"/staff/campaigns/{campaign_id}/schedule",
            data={"csrf": token, "at": "2020-01-01T09:00"},
        )
        assert past.status_code == 400
        assert "is in the past" in past.text

        cancelled = client.post(f"/staff/campaigns/{campaign_id}/cancel", data={"csrf": token})
        assert cancelled.status_code == 303
        assert _progress(client, campaign_id)["status"] == "cancelled"
        refused = client.post(
            f"/staff/campaigns/{campaign_id}/schedule", data={"csrf": token, "at": _local(later)}
        )
        assert refused.status_code == 409
        assert "only a scheduled campaign" in refused.text
    assert mailbox.accepted == []


def test_a_scheduled_send_in_the_past_or_without_a_broker_is_refused(
    db: str,
    sending: None,
    mailbox: Mailbox,
    records_dir: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _broker(monkeypatch)
    with sending_browser(create_app(Settings())) as client:
        token = logged_in(client)
        audience = populated_list(active=2)
        fields = {"csrf": token, "record": RECORD, "list": audience.id, "at": "2020-01-01T09:00"}
        fields["once"] = _once(client, audience.id)
        past = client.post("/staff/send", data=fields)
        assert past.status_code == 400
        assert "2020-01-01 09:00 PKT is in the past" in past.text
        assert _campaigns() == 0

    _broker(monkeypatch, "")
    with sending_browser(create_app(Settings())) as client:
        assert login(client).status_code == 303
        token = csrf_of(client.get("/staff/").text)
        page = client.get(f"/staff/send?record={RECORD}&list={audience.id}")
        assert 'name="at"' not in page.text
        soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        fields = {"csrf": token, "record": RECORD, "list": audience.id, "at": _local(soon)}
        fields["once"] = _once(client, audience.id)
        refused = client.post("/staff/send", data=fields)
        assert refused.status_code == 400
        assert "NEWSLETTER_BROKER_URL" in refused.text
        assert "newsletter worker" in refused.text
        assert _campaigns() == 0
    assert mailbox.accepted == []
