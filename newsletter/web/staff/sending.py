"""Sending from the staff area: a test message, a send to a list, and the campaign's page.

The same steps as `newsletter send`, through the same campaign service
(newsletter.sending.service): the record is composed once, the campaign is created with
its deliveries, and a runner sends it: a sending worker when a broker is configured
(newsletter.sending.worker), otherwise a background thread here
(newsletter.web.staff.senders). The campaign page polls its progress as JSON; pause,
resume and cancel are the service's, as for `newsletter campaigns`.

With a broker, the confirmation can schedule the send instead (a time in the staff's time
zone, NEWSLETTER_TIME_ZONE, unless it carries an offset); the campaign page of a
scheduled campaign shows its time and can cancel it or move it, until a worker starts it
(newsletter.sending.schedule).
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from newsletter.core.errors import NewsletterError, RecordError
from newsletter.core.settings import Settings
from newsletter.issue import merge_fields
from newsletter.issue.merge_fields import MergeField
from newsletter.issue.model import Issue
from newsletter.mail.factory import Addressee
from newsletter.sending.service import CampaignProgress, CampaignService
from newsletter.store.addresses import InvalidAddress
from newsletter.store.attributes import attribute_labels
from newsletter.store.campaigns import (
    CampaignStateError,
    UnknownCampaignError,
    get_campaign,
)
from newsletter.store.lists import ListSummary, list_summaries
from newsletter.transports.base import Status
from newsletter.web.context import WebContext, get_context
from newsletter.web.db import reading, write_turn
from newsletter.web.staff import records
from newsletter.web.staff.context import STAFF_HEADERS, Staff, base, checked_form, render, staff
from newsletter.web.staff.readers import choose
from newsletter.web.staff.saved_versions import saved_version
from newsletter.web.staff.senders import senders

router = APIRouter()


@dataclass(frozen=True)
class Composed:
    issue: Issue
    problems: list[str]
    # The saved issue version it was composed from, if it was (newsletter.store.issues).
    version_id: int | None = None


@dataclass(frozen=True)
class SavedIssue:
    """`issue:<version id>`: an issue version saved in the editor, sent as it was saved."""

    version_id: int
    name: str


def _record(request: Request, record: str) -> Path | SavedIssue:
    if record.startswith("issue:"):
        return _saved_issue(get_context(request), record.removeprefix("issue:"))
    try:
        return records.resolve(get_context(request).settings, record)
    except records.UnknownRecord:
        raise HTTPException(404, "There is no such record.") from None


def _saved_issue(ctx: WebContext, version_id: str) -> SavedIssue:
    with reading(ctx) as session:
        version = saved_version(session, version_id)
        title = str(version.record.get("title", ""))
        return SavedIssue(version.id, f"{title} (version {version.number})")


def compose_saved(settings: Settings, engine: Engine, version_id: int) -> Composed:
    """The issue as the editor saved it in that version, with the composer's warnings."""
    from newsletter.compose.from_file import compose_loaded
    from newsletter.store.engine import session_scope
    from newsletter.store.issues import version_by_id

    with session_scope(engine) as session:
        saved = version_by_id(session, version_id)
    issue, problems = compose_loaded(settings, saved.loaded())
    return Composed(issue, [str(problem) for problem in problems], version_id)


def compose_record(settings: Settings, path: Path) -> Composed:
    """The issue as `newsletter send` composes it, with the composer's warnings."""
    from newsletter.compose.from_file import compose_file

    issue, problems = compose_file(settings, path)
    return Composed(issue, [str(problem) for problem in problems])


async def _composed(request: Request, path: Path | SavedIssue) -> Composed:
    ctx = get_context(request)
    if isinstance(path, SavedIssue):
        try:
            return await run_in_threadpool(compose_saved, ctx.settings, ctx.engine, path.version_id)
        except NewsletterError as exc:
            raise HTTPException(400, str(exc)) from None
    try:
        return await run_in_threadpool(compose_record, ctx.settings, path)
    except RecordError as exc:
        problems = "; ".join(p.replace(str(path), path.name) for p in exc.problems)
        raise HTTPException(400, f"The record has problems: {problems}") from None
    except NewsletterError as exc:
        raise HTTPException(400, str(exc)) from None


def campaigns(ctx: WebContext) -> CampaignService:
    """The campaign service on the app's settings and database; its writes take this
    process's turn with the other writers (newsletter.web.db)."""
    return CampaignService(ctx.settings, ctx.engine, turn=lambda: write_turn(ctx))


def _redirect(ctx: WebContext, path: str) -> RedirectResponse:
    return RedirectResponse(f"{base(ctx)}{path}", status_code=303, headers=STAFF_HEADERS)


# A test message


@router.post("/preview/test")
async def test_message(request: Request, who: Staff = Depends(staff)) -> Response:
    form = await checked_form(request, who)
    record = form.get("record")
    path = _record(request, record)
    composed = await _composed(request, path)
    ctx = get_context(request)
    chosen = await run_in_threadpool(choose, ctx, form.get("subscriber"))
    try:
        email, detail = await run_in_threadpool(
            _send_test, ctx, composed.issue, form.get("address"), chosen.reader
        )
    except InvalidAddress as exc:
        raise HTTPException(400, f"That is not an email address: {exc}") from None
    except NewsletterError as exc:
        raise HTTPException(502, f"The test message was not sent: {exc}") from None
    return render(
        request,
        "test_sent.html",
        {"title": "Test message sent", "email": email, "detail": detail, "record": record},
        who=who,
    )


def _send_test(
    ctx: WebContext, issue: Issue, address: str, reader: Addressee | None
) -> tuple[str, str]:
    with campaigns(ctx).draft(issue) as draft:
        email, outcome = draft.send_test(address, reader)
    if outcome.status is not Status.SENT:
        raise NewsletterError(f"to {email}: {outcome.status.value}: {outcome.detail}")
    return email, f"{draft.transport.name}: {outcome.detail}"


# A send to a list


def _transport_name(ctx: WebContext) -> str:
    """The configured transport's name, once it is known to be usable."""
    try:
        return campaigns(ctx).transport_name()
    except NewsletterError as exc:
        raise HTTPException(500, f"Sending is not set up: {exc}") from None


def _summary(ctx: WebContext, list_id: int) -> ListSummary:
    found = campaigns(ctx).audience_of(list_id)
    if found is None:
        raise HTTPException(404, "There is no such list.")
    return found


@dataclass
class Submissions:
    """Which confirmation forms have made a campaign already, by the form's one-time key.

    A double click or a resubmitted form must not send the issue to the list twice: the
    second submission goes to the campaign the first one made. Kept in this process (the
    two submissions come within seconds to the same server) and bounded.
    """

    kept: int = 1000
    _campaigns: OrderedDict[str, int] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def campaign(self, key: str) -> int | None:
        with self._lock:
            return self._campaigns.get(key)

    def remember(self, key: str, campaign_id: int) -> None:
        with self._lock:
            self._campaigns[key] = campaign_id
            while len(self._campaigns) > self.kept:
                self._campaigns.popitem(last=False)


submissions = Submissions()


@router.get("/send")
async def send_page(
    request: Request,
    record: str,
    list_id: int = Query(0, alias="list"),
    who: Staff = Depends(staff),
) -> HTMLResponse:
    ctx = get_context(request)
    path = _record(request, record)
    values: dict[str, object] = {
        "title": "Send to a list",
        "section": "preview",
        "record": record,
        "label": path.name,
        "summary": None,
        # Scheduled sends are started by the workers: offered only when there are some.
        "schedulable": bool(ctx.settings.broker_url),
        "time_zone": ctx.settings.time_zone,
    }
    if not list_id:
        with reading(ctx) as session:
            values["lists"] = list_summaries(session)
        return render(request, "send.html", values, who=who)
    summary = _summary(ctx, list_id)
    composed = await _composed(request, path)
    values.update(
        summary=summary,
        subject=composed.issue.subject,
        problems=composed.problems,
        transport=_transport_name(ctx),
        once=secrets.token_urlsafe(16),
        # A second send of the issue is the staff's to choose, knowingly.
        earlier=await run_in_threadpool(campaigns(ctx).earlier_sends, composed.issue, summary),
        unfilled=await run_in_threadpool(_unfilled, ctx, composed.issue, list_id),
    )
    return render(request, "send.html", values, who=who)


def _unfilled(ctx: WebContext, issue: Issue, list_id: int) -> list[MergeField]:
    """The issue's merge fields that nobody on the list has a value for."""
    fields = merge_fields.fields_of(issue.subject, issue.html)
    if not fields:
        return []
    with reading(ctx) as session:
        return merge_fields.unfilled(fields, attribute_labels(session, list_id))


@router.post("/send")
async def send(request: Request, who: Staff = Depends(staff)) -> Response:
    form = await checked_form(request, who)
    ctx = get_context(request)
    path = _record(request, form.get("record"))
    try:
        list_id = int(form.get("list"))
    except ValueError:
        raise HTTPException(400, "Choose a list.") from None
    once = form.get("once")
    if not once:
        raise HTTPException(400, "This form is out of date; open the confirmation again.")
    if (earlier := submissions.campaign(once)) is not None:
        return _redirect(ctx, f"/campaigns/{earlier}")
    summary = _summary(ctx, list_id)
    composed = await _composed(request, path)
    if composed.problems and form.get("force") != "yes":
        raise HTTPException(400, "The composer found problems; confirm sending anyway.")
    if summary.eligible == 0:
        raise HTTPException(400, f"List {summary.name} has no eligible subscribers.")
    transport_name = _transport_name(ctx)
    service = campaigns(ctx)
    at = form.get("at").strip()
    when = _send_time(service, at) if at else None
    # Checked again after the await above, with nothing awaited from here to `remember`:
    # on the server's one event loop no other request runs in between.
    if (earlier := submissions.campaign(once)) is not None:
        return _redirect(ctx, f"/campaigns/{earlier}")
    if when is not None:
        try:
            campaign_id = service.create_scheduled(
                composed.issue,
                summary,
                transport_name,
                when,
                issue_version_id=composed.version_id,
            )
        except NewsletterError as exc:
            raise HTTPException(400, f"The send was not scheduled: {exc}") from None
        submissions.remember(once, campaign_id)
        return _redirect(ctx, f"/campaigns/{campaign_id}")
    campaign_id = service.create(
        composed.issue, summary, transport_name, issue_version_id=composed.version_id
    )
    submissions.remember(once, campaign_id)
    await _start(ctx, service, campaign_id)
    return _redirect(ctx, f"/campaigns/{campaign_id}")


def _send_time(service: CampaignService, text: str) -> datetime:
    """A time from a form: in the staff's time zone unless it carries an offset; 400 if
    it cannot be used (not a time, or past)."""
    try:
        return service.read_time(text, in_staff_zone=True)
    except NewsletterError as exc:
        raise HTTPException(400, f"The send was not scheduled: {exc}") from None


async def _start(ctx: WebContext, service: CampaignService, campaign_id: int) -> None:
    """Send the campaign: through the sending workers when a broker is configured,
    otherwise in a background thread of this server."""
    if not ctx.settings.broker_url:
        senders.start(service, campaign_id)
        return
    from newsletter.sending.worker import enqueue

    try:
        await run_in_threadpool(enqueue, ctx.settings, campaign_id)
    except NewsletterError as exc:
        raise HTTPException(502, str(exc)) from None


# The campaign's page and its controls


def _progress(ctx: WebContext, campaign_id: int) -> CampaignProgress:
    try:
        return campaigns(ctx).progress(
            campaign_id,
            running_here=senders.running(campaign_id),
            error=senders.error(campaign_id),
        )
    except UnknownCampaignError:
        raise HTTPException(404, "There is no such campaign.") from None


@router.get("/campaigns/{campaign_id}")
def campaign_page(request: Request, campaign_id: int, who: Staff = Depends(staff)) -> HTMLResponse:
    ctx = get_context(request)
    progress = _progress(ctx, campaign_id)
    with reading(ctx) as session:
        campaign = get_campaign(session, campaign_id)
        subject, list_name, transport = campaign.subject, campaign.list_name, campaign.transport
        scheduled_at = campaign.scheduled_at
    service = campaigns(ctx)
    zone = ZoneInfo(ctx.settings.time_zone)
    return render(
        request,
        "campaign.html",
        {
            "title": f"Campaign {campaign_id}",
            "section": "campaigns",
            "progress": progress,
            "subject": subject,
            "list_name": list_name,
            "transport": transport,
            "scheduled": service.shown(scheduled_at) if scheduled_at else "",
            # The move form's value: the time as the staff's zone reads it.
            "scheduled_local": (
                scheduled_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if scheduled_at else ""
            ),
            "time_zone": ctx.settings.time_zone,
        },
        who=who,
    )


@router.get("/campaigns/{campaign_id}/progress")
def campaign_progress_json(
    request: Request, campaign_id: int, who: Staff = Depends(staff)
) -> Response:
    progress = _progress(get_context(request), campaign_id)
    return JSONResponse(progress.as_json(), headers=STAFF_HEADERS)


def _state_error(exc: CampaignStateError) -> HTTPException:
    return HTTPException(409, str(exc))


@router.post("/campaigns/{campaign_id}/pause")
async def pause(request: Request, campaign_id: int, who: Staff = Depends(staff)) -> Response:
    await checked_form(request, who)
    ctx = get_context(request)
    reason = f"paused by {who.email} in the staff area"
    try:
        campaigns(ctx).pause(campaign_id, reason)
    except UnknownCampaignError:
        raise HTTPException(404, "There is no such campaign.") from None
    except CampaignStateError as exc:
        raise _state_error(exc) from None
    return _redirect(ctx, f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/resume")
async def resume(request: Request, campaign_id: int, who: Staff = Depends(staff)) -> Response:
    await checked_form(request, who)
    ctx = get_context(request)
    service = campaigns(ctx)
    try:
        service.reopen(campaign_id)
    except UnknownCampaignError:
        raise HTTPException(404, "There is no such campaign.") from None
    except CampaignStateError as exc:
        raise _state_error(exc) from None
    # Through the workers when there are some, as a new send goes.
    await _start(ctx, service, campaign_id)
    return _redirect(ctx, f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/cancel")
async def cancel(request: Request, campaign_id: int, who: Staff = Depends(staff)) -> Response:
    await checked_form(request, who)
    ctx = get_context(request)
    try:
        campaigns(ctx).cancel(campaign_id, running_here=senders.running(campaign_id))
    except UnknownCampaignError:
        raise HTTPException(404, "There is no such campaign.") from None
    except CampaignStateError as exc:
        raise _state_error(exc) from None
    return _redirect(ctx, f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/schedule")
async def reschedule(request: Request, campaign_id: int, who: Staff = Depends(staff)) -> Response:
    """A scheduled campaign moved to another time, before it starts."""
    form = await checked_form(request, who)
    ctx = get_context(request)
    service = campaigns(ctx)
    at = form.get("at").strip()
    if not at:
        raise HTTPException(400, "Give the new time.")
    when = _send_time(service, at)
    try:
        service.reschedule(campaign_id, when)
    except UnknownCampaignError:
        raise HTTPException(404, "There is no such campaign.") from None
    except CampaignStateError as exc:
        raise _state_error(exc) from None
    return _redirect(ctx, f"/campaigns/{campaign_id}")
