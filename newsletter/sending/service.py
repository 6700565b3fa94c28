"""The front door for campaigns: what the CLI, the staff area and a worker do with one.

- Before a campaign: `audience` (who a list would reach), `earlier_sends` (whether the
  issue went to it before, and to how many of its recipients), `transport_name` (the
  configured transport, once it is known to be usable), `draft` (the issue's messages as
  the campaign will make them, for a dry run's sample or a test message; nothing is
  recorded).
- A campaign: `create` it from an issue (one pending delivery per eligible recipient),
  `run` it in the calling thread (`resume=True` reopens a paused one first), `pause`,
  `reopen` (a resume whose run follows elsewhere, in a background thread) and `cancel` it.
- What there is to see: `campaigns` (every one, with whether a runner works on it) and
  `progress` (one campaign, as the staff page polls it).
- Scheduled sends (newsletter.sending.schedule): `read_time` (a time as typed, checked),
  `create_scheduled` (a campaign that waits for its time and the workers), `reschedule`,
  `scheduled_at`, `shown` (a time in the staff's time zone), and `start_due`, a worker's
  poll for the campaigns whose time has come.

The service gets its settings and its database from whoever makes it (the CLI from its
settings, the web app from its own), never from the environment, and it prints nothing:
a run reports through `on_progress` and ends with a `RunResult`; a refusal is a
NewsletterError.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsletter.core.settings import Settings
from newsletter.issue.model import Issue
from newsletter.mail.factory import Addressee, MessageFactory
from newsletter.mail.mime import new_message_id
from newsletter.mail.sender import sender_of
from newsletter.sending import launch, schedule
from newsletter.sending.control import (
    PAUSED_BY_STAFF,
    Cancelled,
    cancel_campaign,
    pause_campaign,
    reopen_campaign,
)
from newsletter.sending.lease import any_live
from newsletter.sending.marks import discard_marks, marks_folder
from newsletter.sending.progress import CampaignProgress, campaign_progress
from newsletter.sending.runner import Progress, RunResult, StopRequest
from newsletter.sending.schedule import ScheduleError
from newsletter.store.campaigns import (
    Campaign,
    CampaignSummary,
    campaign_summaries,
    create_campaign,
    get_campaign,
)
from newsletter.store.earlier_sends import EarlierSends, earlier_sends
from newsletter.store.engine import session_scope
from newsletter.store.lists import ListSummary, get_list, list_summary
from newsletter.store.recipients import eligible_batch
from newsletter.store.staged import Turn
from newsletter.store.types import utcnow
from newsletter.transports import make_transport
from newsletter.transports.base import Outcome, Transport

# The plain values the callers of the service see.
__all__ = [
    "PAUSED_BY_STAFF",
    "CampaignProgress",
    "CampaignService",
    "Cancelled",
    "Draft",
    "EarlierSends",
    "ListedCampaign",
    "Progress",
    "RunResult",
    "ScheduleError",
    "StopRequest",
]


@dataclass(frozen=True)
class ListedCampaign:
    summary: CampaignSummary
    # Whether a runner (in any process) works on it now.
    running: bool


class CampaignService:
    def __init__(self, settings: Settings, engine: Engine, *, turn: Turn | None = None) -> None:
        self.settings = settings
        self.engine = engine
        # Entered around each write transaction: the web side's writers take turns.
        self._turn: Turn = turn or nullcontext

    # Before a campaign

    def audience(self, list_name: str) -> ListSummary:
        """Who a campaign to the list named `list_name` would reach; UnknownListError if
        there is no such list."""
        with self._reading() as session:
            summary = list_summary(session, get_list(session, list_name).id)
        assert summary is not None  # get_list raised if there were no such list
        return summary

    def audience_of(self, list_id: int) -> ListSummary | None:
        """As `audience`, for a list's id; None if there is no such list."""
        with self._reading() as session:
            return list_summary(session, list_id)

    def earlier_sends(self, issue: Issue, audience: ListSummary) -> EarlierSends:
        """Whether `issue` went to the list before, and how many of its recipients
        already received it (a send's confirmation warns of a second one)."""
        with self._reading() as session:
            return earlier_sends(session, issue.slug, audience.id)

    def transport_name(self, name: str | None = None) -> str:
        """The transport's name (default: the configured one), once it is known to be
        usable: ConfigError if it is not."""
        transport = make_transport(self.settings, name)
        transport.close()
        return transport.name

    @contextmanager
    def draft(
        self,
        issue: Issue,
        audience: ListSummary | None = None,
        transport_name: str | None = None,
    ) -> Iterator[Draft]:
        """The issue's messages to `audience` (None: to no list) as a campaign will make
        them, and the transport they would go through, closed when the block ends. Made
        even before a real send: a bad DKIM key or From address stops it here."""
        transport = make_transport(self.settings, transport_name)
        try:
            factory = launch.sample_factory(
                self.settings,
                issue,
                audience.id if audience is not None else 0,
                audience.name if audience is not None else "test",
                transport.wants_raw,
            )
            yield Draft(issue, audience, transport, self.engine, factory)
        finally:
            transport.close()

    # A campaign

    def create(
        self,
        issue: Issue,
        audience: ListSummary,
        transport_name: str,
        *,
        issue_version_id: int | None = None,
    ) -> int:
        """A new campaign of `issue` to the list, with one pending delivery per eligible
        recipient and the sender as configured now; its id. `run` sends it.
        `issue_version_id`: the saved issue version `issue` was composed from, recorded
        with the campaign."""
        with self._writing() as session:
            return self._new_campaign(session, issue, audience, transport_name, issue_version_id).id

    def _new_campaign(
        self,
        session: Session,
        issue: Issue,
        audience: ListSummary,
        transport_name: str,
        issue_version_id: int | None,
    ) -> Campaign:
        return create_campaign(
            session,
            list_id=audience.id,
            list_name=audience.name,
            issue=issue,
            transport=transport_name,
            sender=sender_of(self.settings),
            issue_version_id=issue_version_id,
        )

    def run(
        self,
        campaign_id: int,
        *,
        resume: bool = False,
        on_progress: Callable[[Progress], None] | None = None,
        stop: StopRequest | None = None,
        shared: bool = False,
    ) -> RunResult:
        """Send what is left of the campaign, here and now, through the transport it was
        created for; `resume` reopens a paused campaign first.

        It ends when nothing is left, when the campaign is paused (from elsewhere, by an
        error storm, or by `stop`) or cancelled. LeaseHeldError if another runner sends it
        (`shared`: a worker, which sends beside other workers, and is refused only by a
        runner that sends alone).
        """
        with self._reading() as session:
            transport_name = get_campaign(session, campaign_id).transport
        transport = make_transport(self.settings, transport_name)
        try:
            runner = launch.campaign_runner(
                self.settings,
                self.engine,
                campaign_id,
                transport,
                on_progress=on_progress,
                stop=stop,
                shared=shared,
            )
            return runner.run(resume=resume)
        finally:
            transport.close()

    def pause(self, campaign_id: int, reason: str = PAUSED_BY_STAFF) -> bool:
        """Pause a campaign being sent; False if it was paused already. A runner working on
        it stops before its next batch."""
        with self._writing() as session:
            return pause_campaign(session, campaign_id, reason, now=utcnow())

    def reopen(self, campaign_id: int) -> None:
        """A paused or interrupted campaign is being sent again, for a `run` to follow
        (CampaignStateError if it is done or cancelled)."""
        with self._writing() as session:
            reopen_campaign(session, campaign_id, now=utcnow())

    def cancel(self, campaign_id: int, *, running_here: bool = False) -> Cancelled:
        """No more messages: what is pending is skipped and the campaign is cancelled.

        A live runner records its current batch and stops; otherwise what a dead one left
        in flight is settled now, and its mark files go. `running_here`: the caller runs
        the campaign in a thread whose lease may not show yet, and which needs its marks.
        """
        folder = marks_folder(self.settings)
        with self._writing() as session:
            cancelled = cancel_campaign(
                session,
                campaign_id,
                now=utcnow(),
                lease_timeout=self.settings.send_lease_timeout,
                marks_folder=folder,
            )
        if not (cancelled.runner_live or running_here):
            discard_marks(folder, campaign_id)
        return cancelled

    # What there is to see

    def campaigns(self) -> list[ListedCampaign]:
        """Every campaign, newest first, with its deliveries counted per state."""
        with self._reading() as session:
            summaries = campaign_summaries(session)
        now = utcnow()
        timeout = self.settings.send_lease_timeout
        return [
            ListedCampaign(
                summary,
                any_live(summary.runners, now, timeout),
            )
            for summary in summaries
        ]

    def progress(
        self, campaign_id: int, *, running_here: bool = False, error: str | None = None
    ) -> CampaignProgress:
        """The campaign's figures as the staff page shows them; UnknownCampaignError if
        there is no such campaign. `running_here`: the caller runs it in a thread, and
        `error` is why that thread's last run stopped, if it failed."""
        with self._reading() as session:
            return campaign_progress(
                session,
                campaign_id,
                now=utcnow(),
                lease_timeout=self.settings.send_lease_timeout,
                runs_here=running_here,
                error=error,
            )

    # Scheduled sends

    def read_time(self, text: str, *, in_staff_zone: bool = False) -> datetime:
        """A send time as typed (ISO 8601), in UTC, once it is known to be in the future;
        ScheduleError otherwise. Without a zone offset it is refused, or with
        `in_staff_zone` taken in NEWSLETTER_TIME_ZONE (a form's local time)."""
        zone = schedule.zone_of(self.settings)
        at = schedule.parse_time(text, zone if in_staff_zone else None)
        schedule.require_future(at, utcnow(), zone)
        return at

    def shown(self, moment: datetime) -> str:
        """A moment in the staff's time zone (NEWSLETTER_TIME_ZONE), as people read it."""
        return schedule.shown(moment, schedule.zone_of(self.settings))

    def create_scheduled(
        self,
        issue: Issue,
        audience: ListSummary,
        transport_name: str,
        at: datetime,
        *,
        issue_version_id: int | None = None,
    ) -> int:
        """As `create`, for a campaign that waits until `at`, when a sending worker starts
        it; its id. ConfigError without a broker (only workers start scheduled campaigns),
        ScheduleError if `at` is past."""
        schedule.require_workers(self.settings)
        now = utcnow()
        schedule.require_future(at, now, schedule.zone_of(self.settings))
        with self._writing() as session:
            campaign = self._new_campaign(
                session, issue, audience, transport_name, issue_version_id
            )
            schedule.schedule_new(session, campaign, at, now=now)
            return campaign.id

    def reschedule(self, campaign_id: int, at: datetime) -> None:
        """A scheduled campaign starts at `at` instead: ScheduleError if that is past,
        CampaignStateError if the campaign has started (or was never scheduled)."""
        now = utcnow()
        schedule.require_future(at, now, schedule.zone_of(self.settings))
        with self._writing() as session:
            schedule.move(session, campaign_id, at, now=now)

    def scheduled_at(self, campaign_id: int) -> datetime | None:
        """When the campaign is (or was) scheduled to start; None if it was sent at once."""
        with self._reading() as session:
            return schedule.scheduled_time(session, campaign_id)

    def start_due(self) -> list[int]:
        """Move every due scheduled campaign that no other worker moved first to sending;
        their ids, for the caller to hand to the queue. Each in a transaction of its own,
        so that a campaign won is handed over even if a later one fails."""
        with self._reading() as session:
            found = schedule.due(session, utcnow())
        started = []
        for campaign_id in found:
            with self._writing() as session:
                if schedule.start_due(session, campaign_id, now=utcnow()):
                    started.append(campaign_id)
        return started

    def unstart(self, campaign_id: int) -> bool:
        """Put back, still due, a campaign `start_due` moved but could not hand over."""
        with self._writing() as session:
            return schedule.unstart(session, campaign_id, now=utcnow())

    def _reading(self) -> AbstractContextManager[Session]:
        return session_scope(self.engine)

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        with self._turn(), session_scope(self.engine, write=True) as session:
            yield session


@dataclass(frozen=True)
class Draft:
    """An issue about to go out: its messages as the campaign will make them, and the
    transport they would go through. Records nothing."""

    issue: Issue
    # None: to no list (a test message from the staff area).
    audience: ListSummary | None
    transport: Transport
    engine: Engine = field(repr=False)
    factory: MessageFactory = field(repr=False)

    @property
    def where(self) -> str:
        """The transport's name, and where it sends to when it says so."""
        endpoint = getattr(self.transport, "endpoint", None)
        name = self.transport.name
        return f"{name} ({endpoint})" if endpoint is not None else name

    def sample(self) -> bytes | None:
        """The message the list's first eligible recipient would get, rendered whatever
        the transport (so an HTTP API's sample can be read too); None when nobody is
        eligible."""
        assert self.audience is not None, "a draft to no list has no recipients"
        with session_scope(self.engine) as session:
            first = eligible_batch(session, self.audience.id, limit=1)
        if not first:
            return None
        recipient = first[0]
        return self.factory.render(
            Addressee(
                0,
                recipient.subscriber_id,
                recipient.email,
                recipient.name,
                recipient.version,
                attributes=recipient.attributes,
            ),
            message_id=new_message_id(self.factory.domain),
        )

    def send_test(self, address: str, reader: Addressee | None = None) -> tuple[str, Outcome]:
        """One message to `address` (InvalidAddress if it is not one), recorded nowhere;
        the address as normalised, and the transport's outcome. `reader`: whose merge
        fields it shows (launch.send_test)."""
        return launch.send_test(self.factory, self.transport, address, reader)
