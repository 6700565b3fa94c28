"""The campaign service, called as the CLI, the staff area and a worker call it: on a real
store (SQLite and PostgreSQL) and a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from newsletter.core.errors import NewsletterError, TokenError
from newsletter.core.tokens import verify
from newsletter.sending.marks import MarkFile, marks_folder, marks_path
from newsletter.sending.service import PAUSED_BY_STAFF, CampaignService, Progress, StopRequest
from newsletter.store.campaigns import (
    Campaign,
    CampaignStateError,
    CampaignStatus,
    DeliveryState,
    UnknownCampaignError,
)
from newsletter.store.engine import dispose_engine, get_engine, session_scope
from newsletter.store.errors import UnknownListError
from newsletter.store.lists import create_list
from newsletter.store.models import MailingList
from newsletter.store.subscriptions import subscribe
from tests.sending.helpers import (
    FROM,
    Audience,
    after_first_batch,
    campaign,
    populated_list,
    rows,
    sending_settings,
    small_issue,
)
from tests.store.databases import current_engine
from tests.transports.smtp_servers import Mailbox, smtp_server

LIST = "members"


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def port(mailbox: Mailbox) -> Iterator[int]:
    """The SMTP port of a server that delivers into `mailbox`."""
    with smtp_server(mailbox) as port:
        yield port


def service_for(port: int, **changes: Any) -> CampaignService:
    """The service as the CLI makes it: from its settings, on the engine of their database,
    sending to the SMTP server on `port`."""
    settings = sending_settings(smtp_url=f"smtp://127.0.0.1:{port}", smtp_connections=1, **changes)
    return CampaignService(settings, current_engine())


def campaign_to(service: CampaignService, active: int, **issue: Any) -> tuple[Audience, int]:
    """A list of `active` eligible members, and a campaign to it made by the service."""
    audience = populated_list(LIST, active=active)
    return audience, service.create(small_issue(**issue), service.audience(LIST), "smtp")


def states(campaign_id: int) -> Counter[DeliveryState]:
    return Counter(row.state for row in rows(campaign_id).values())


def campaigns_in(engine: Engine) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Campaign)) or 0)


# Before a campaign


def test_the_audience_is_who_a_campaign_would_reach(db: str, port: int) -> None:
    audience = populated_list(LIST, active=3)
    service = service_for(port)
    by_name = service.audience(LIST)
    assert (by_name.id, by_name.name, by_name.eligible) == (audience.id, LIST, 3)
    assert service.audience_of(audience.id) == by_name
    assert service.audience_of(999) is None
    with pytest.raises(UnknownListError):
        service.audience("nobody")


def test_the_transport_name_is_the_configured_one_once_it_is_usable(
    sqlite_db: str, port: int
) -> None:
    service = service_for(port)
    assert service.transport_name() == "smtp"
    assert service.transport_name("outbox") == "outbox"
    with pytest.raises(NewsletterError, match="must be one of"):
        service.transport_name("pigeon")


def test_a_draft_shows_the_first_recipients_message_and_records_nothing(
    db: str, mailbox: Mailbox, port: int
) -> None:
    populated_list(LIST, active=3)
    service = service_for(port)
    with service.draft(small_issue(), service.audience(LIST)) as draft:
        assert draft.where == f"smtp (smtp://127.0.0.1:{port})"
        data = draft.sample()
    assert data is not None
    message = message_from_bytes(data, policy=policy.SMTP)
    assert message["To"] == "Reader 1 <r1@example.net>"
    assert message["Subject"] == "A Small Seminar"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mailbox.accepted == []
    assert campaigns_in(current_engine()) == 0


def test_a_draft_to_an_empty_list_has_no_sample(sqlite_db: str, port: int) -> None:
    with session_scope(current_engine(), write=True) as session:
        create_list(session, "empty")
    service = service_for(port)
    with service.draft(small_issue(), service.audience("empty")) as draft:
        assert draft.sample() is None


def test_a_test_message_goes_to_one_address_and_is_recorded_nowhere(
    db: str, mailbox: Mailbox, port: int
) -> None:
    populated_list(LIST, active=3)
    service = service_for(port)
    # To the list it is meant for (`send --test-to`), and to none (the staff area's).
    for audience in (service.audience(LIST), None):
        with service.draft(small_issue(), audience) as draft:
            email, outcome = draft.send_test(" Editor@Example.org ")
        assert email == "Editor@example.org"
        assert outcome.status.value == "sent"
    assert mailbox.recipients() == ["Editor@example.org", "Editor@example.org"]
    message = message_from_bytes(mailbox.accepted[1].data, policy=policy.SMTP)
    assert message["To"] == "Test Recipient <Editor@example.org>"
    assert campaigns_in(current_engine()) == 0


def test_a_test_message_is_marked_and_its_links_touch_no_subscriber(
    db: str, mailbox: Mailbox, port: int
) -> None:
    populated_list(LIST, active=3)
    service = service_for(port)
    audience = service.audience(LIST)
    with service.draft(small_issue(), audience) as draft:
        draft.send_test("editor@example.org")
        # The dry run's sample stays what the first reader would get.
        sample = message_from_bytes(draft.sample() or b"", policy=policy.SMTP)
    assert sample["Subject"] == "A Small Seminar"
    message = message_from_bytes(mailbox.accepted[0].data, policy=policy.SMTP)
    assert message["Subject"] == "[Test] A Small Seminar"
    key = service.settings.signing_key()
    part = message.get_body(("html",))
    assert part is not None
    html = part.get_content()
    # Each link names the issue's language after its token (a test is sent for no list).
    links = re.findall(r'href="https?://[^"]+/([upf])/([^"?]+)\?lang=en"', html)
    header = re.findall(r"<https?://[^>]+/(u)/([^>?]+)\?lang=en>", message["List-Unsubscribe"])
    assert sorted(purpose for purpose, _ in links) == ["f", "p", "u"]
    for purpose, text in [*links, *header]:
        token = verify(key, text, purpose, test=True)
        assert (token.subscriber_id, token.list_id, token.test) == (0, audience.id, True)
        # No real link accepts it.
        with pytest.raises(TokenError):
            verify(key, text, purpose)


def test_a_test_message_speaks_the_issues_language(db: str, mailbox: Mailbox, port: int) -> None:
    service = service_for(port)
    issue = small_issue(subject="سیمینار", language="ur", direction="rtl")
    with service.draft(issue) as draft:
        draft.send_test("editor@example.org")
    message = message_from_bytes(mailbox.accepted[0].data, policy=policy.SMTP)
    assert message["Subject"] == "[ٹیسٹ] سیمینار"


def test_earlier_sends_say_whether_the_issue_went_to_the_list_and_to_whom(
    db: str, mailbox: Mailbox, port: int
) -> None:
    service = service_for(port)
    audience, first = campaign_to(service, 3)
    members = service.audience(LIST)
    # Made but not sent yet: it did not go out.
    assert service.earlier_sends(small_issue(), members).sent_before is False
    service.run(first)
    with session_scope(current_engine(), write=True) as session:
        subscribe(session, members.id, "new@example.net", source="test")
        # One earlier recipient is now on a second list as well.
        other = session.query(MailingList).filter_by(name=f"{LIST}-other").one().id
        subscribe(session, other, audience.eligible[0], source="test")
    members = service.audience(LIST)

    again = service.earlier_sends(small_issue(), members)

    assert (again.campaigns, again.recipients) == (1, 3)
    assert again.last_at is not None
    # Another list: the issue did not go to it, but one of its members got it already.
    elsewhere = service.earlier_sends(small_issue(), service.audience(f"{LIST}-other"))
    assert (elsewhere.sent_before, elsewhere.recipients) == (False, 1)
    # Another issue went nowhere.
    other_issue = small_issue(slug="2024-06-01-another-seminar")
    assert service.earlier_sends(other_issue, members).recipients == 0
    # A second send counts as one more campaign; the recipients are still counted once.
    service.run(service.create(small_issue(), members, "smtp"))
    twice = service.earlier_sends(small_issue(), service.audience(LIST))
    assert (twice.campaigns, twice.recipients) == (2, 4)


# A campaign


def test_create_makes_one_pending_delivery_per_eligible_recipient(
    db: str, mailbox: Mailbox, port: int
) -> None:
    audience, campaign_id = campaign_to(service_for(port), 4)
    deliveries = rows(campaign_id)
    assert sorted(deliveries) == sorted(audience.eligible)
    assert states(campaign_id) == {DeliveryState.PENDING: 4}
    created = campaign(campaign_id)
    assert (created.status, created.transport, created.from_address) == (
        CampaignStatus.SENDING,
        "smtp",
        FROM,
    )
    assert mailbox.accepted == []


def test_run_sends_each_recipient_once_and_reports_its_progress(
    db: str, mailbox: Mailbox, port: int
) -> None:
    service = service_for(port, send_batch_size=3)
    audience, campaign_id = campaign_to(service, 7)
    reports: list[Progress] = []
    result = service.run(campaign_id, on_progress=reports.append)
    assert result.status is CampaignStatus.DONE
    assert (result.tally.sent, result.tally.failed, result.tally.left) == (7, 0, 0)
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)
    assert (reports[0].tally.left, reports[-1].tally.sent) == (7, 7)
    assert states(campaign_id) == {DeliveryState.SENT: 7}


def test_a_paused_campaign_stops_within_a_batch_and_a_resume_sends_the_rest(
    db: str, mailbox: Mailbox, port: int
) -> None:
    service = service_for(port, send_batch_size=3)
    audience, campaign_id = campaign_to(service, 12)
    paused = service.run(
        campaign_id, on_progress=after_first_batch(lambda: service.pause(campaign_id))
    )
    assert (paused.status, paused.reason) == (CampaignStatus.PAUSED, PAUSED_BY_STAFF)
    assert len(mailbox.accepted) == 3
    assert service.pause(campaign_id) is False
    resumed = service.run(campaign_id, resume=True)
    assert resumed.status is CampaignStatus.DONE
    # The tally is the campaign's: both runs.
    assert (resumed.tally.sent, resumed.tally.left) == (12, 0)
    # Each recipient once, over both runs.
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)


def test_reopen_makes_a_paused_campaign_sendable_for_a_run_to_follow(
    sqlite_db: str, mailbox: Mailbox, port: int
) -> None:
    service = service_for(port)
    audience, campaign_id = campaign_to(service, 4)
    assert service.pause(campaign_id, "paused by someone")
    assert campaign(campaign_id).pause_reason == "paused by someone"
    # A run without `resume` leaves a paused campaign alone.
    assert service.run(campaign_id).status is CampaignStatus.PAUSED
    assert mailbox.accepted == []
    service.reopen(campaign_id)
    reopened = campaign(campaign_id)
    assert (reopened.status, reopened.pause_reason) == (CampaignStatus.SENDING, None)
    assert service.run(campaign_id).status is CampaignStatus.DONE
    assert sorted(mailbox.recipients()) == sorted(audience.eligible)
    with pytest.raises(CampaignStateError, match="nothing to resume"):
        service.reopen(campaign_id)
    with pytest.raises(CampaignStateError, match="only a campaign being sent"):
        service.pause(campaign_id)


def test_a_stop_request_finishes_the_batch_and_pauses_with_its_reason(
    sqlite_db: str, mailbox: Mailbox, port: int
) -> None:
    service = service_for(port, send_batch_size=3)
    _, campaign_id = campaign_to(service, 9)
    stop = StopRequest()
    result = service.run(
        campaign_id,
        stop=stop,
        on_progress=after_first_batch(lambda: stop.request("interrupted with Ctrl-C")),
    )
    assert (result.status, result.reason) == (CampaignStatus.PAUSED, "interrupted with Ctrl-C")
    assert len(mailbox.accepted) == 3


def test_a_cancel_while_a_runner_is_live_stops_it_and_keeps_its_marks(
    db: str, mailbox: Mailbox, port: int
) -> None:
    service = service_for(port, send_batch_size=3)
    _, campaign_id = campaign_to(service, 12)
    folder = marks_folder(service.settings)
    seen: list[tuple[bool, int]] = []

    def cancel() -> None:
        cancelled = service.cancel(campaign_id)
        seen.append((cancelled.runner_live, len(list(folder.glob("*.marks")))))

    result = service.run(campaign_id, on_progress=after_first_batch(cancel))
    # The runner's lease was live: its mark file, which it still writes, was left alone.
    assert seen == [(True, 1)]
    assert result.status is CampaignStatus.CANCELLED
    assert len(mailbox.accepted) == 3
    assert states(campaign_id) == {DeliveryState.SENT: 3, DeliveryState.SKIPPED: 9}
    # The runner removed its own marks once it had stopped.
    assert list(folder.glob("*.marks")) == []
    with pytest.raises(CampaignStateError, match="nothing to resume"):
        service.run(campaign_id, resume=True)


@pytest.mark.parametrize(("running_here", "marks_left"), [(False, 0), (True, 1)])
def test_a_cancel_without_a_live_runner_skips_what_is_left_and_discards_old_marks(
    db: str, mailbox: Mailbox, port: int, running_here: bool, marks_left: int
) -> None:
    """Old marks go, unless the caller runs the campaign in a thread of its own that is
    about to take the lease and write them."""
    service = service_for(port)
    _, campaign_id = campaign_to(service, 5)
    folder = marks_folder(service.settings)
    # Left by a runner on another host, whose lease is gone.
    MarkFile(marks_path(folder, campaign_id, "elsewhere:1"), 1, 5).close()
    cancelled = service.cancel(campaign_id, running_here=running_here)
    assert (cancelled.skipped, cancelled.runner_live) == (5, False)
    assert len(list(folder.glob("*.marks"))) == marks_left
    assert states(campaign_id) == {DeliveryState.SKIPPED: 5}
    assert mailbox.accepted == []


def test_an_unknown_campaign_is_refused_by_every_use_case(sqlite_db: str, port: int) -> None:
    service = service_for(port)
    for use in (service.run, service.pause, service.reopen, service.cancel, service.progress):
        with pytest.raises(UnknownCampaignError):
            use(41)


# What there is to see


def test_campaigns_lists_each_one_with_whether_a_runner_works_on_it(db: str, port: int) -> None:
    service = service_for(port, send_batch_size=3)
    _, first = campaign_to(service, 6)
    second = service.create(small_issue(subject="Another"), service.audience(LIST), "smtp")
    assert [(c.summary.id, c.running) for c in service.campaigns()] == [
        (second, False),
        (first, False),
    ]
    during: list[list[tuple[int, bool]]] = []
    service.run(
        first,
        on_progress=after_first_batch(
            lambda: during.append([(c.summary.id, c.running) for c in service.campaigns()])
        ),
    )
    assert during == [[(second, False), (first, True)]]
    listed = {c.summary.id: c for c in service.campaigns()}
    assert (listed[first].running, listed[first].summary.status) == (False, CampaignStatus.DONE)
    assert (listed[second].summary.left, listed[second].summary.subject) == (6, "Another")


def test_progress_reads_the_figures_from_the_store(db: str, port: int) -> None:
    service = service_for(port)
    _, campaign_id = campaign_to(service, 4)
    # Being sent as far as the store knows, but nobody sends it.
    before = service.progress(campaign_id)
    assert (before.status, before.running, before.left, before.total) == (
        "interrupted",
        False,
        4,
        4,
    )
    here = service.progress(campaign_id, running_here=True, error="boom")
    assert (here.status, here.running, here.error) == ("sending", True, "boom")
    service.run(campaign_id)
    after = service.progress(campaign_id)
    assert (after.status, after.sent, after.left, after.done, after.time_left) == (
        "done",
        4,
        0,
        4,
        "0 s",
    )


def test_every_write_takes_the_callers_turn(sqlite_db: str, port: int) -> None:
    turns: list[str] = []

    @contextmanager
    def turn() -> Iterator[None]:
        turns.append("in")
        yield
        turns.append("out")

    base = service_for(port)
    service = CampaignService(base.settings, base.engine, turn=turn)
    _, campaign_id = campaign_to(service, 2)
    service.pause(campaign_id)
    service.reopen(campaign_id)
    service.cancel(campaign_id)
    # Reads take no turn.
    service.progress(campaign_id)
    service.campaigns()
    assert turns == ["in", "out"] * 4


# Its database is the one it was given


def test_a_service_on_other_settings_works_only_on_their_database(
    db: str, tmp_path: Path, mailbox: Mailbox, port: int
) -> None:
    """The environment names database B (the `db` fixture's), the settings name A: every
    write, the runner's included, goes to A."""
    url_a = f"sqlite:///{tmp_path / 'a' / 'newsletter.db'}"
    base = service_for(port, send_batch_size=2)
    settings = base.settings.model_copy(update={"database_url": url_a})
    assert url_a != base.settings.resolved_database_url()
    engine_a = get_engine(settings.resolved_database_url())
    try:
        with session_scope(engine_a, write=True) as session:
            list_id = create_list(session, LIST).id
            for address in ("a1@example.net", "a2@example.net", "a3@example.net"):
                subscribe(session, list_id, address, source="test")
        service = CampaignService(settings, engine_a)
        campaign_id = service.create(small_issue(), service.audience(LIST), "smtp")
        assert service.run(campaign_id).status is CampaignStatus.DONE
        assert sorted(mailbox.recipients()) == [
            "a1@example.net",
            "a2@example.net",
            "a3@example.net",
        ]
        assert service.progress(campaign_id).sent == 3
        assert campaigns_in(engine_a) == 1
        # Database B, the environment's, was never written to.
        assert campaigns_in(current_engine()) == 0
        with session_scope(current_engine()) as session:
            assert session.scalar(select(func.count()).select_from(MailingList)) == 0
    finally:
        dispose_engine(url_a)
