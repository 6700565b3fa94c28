"""The staff area's front page: a dashboard of the recent campaigns and the lists, with
the way to start a new issue."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import HTMLResponse

from newsletter.core.durations import finish_time, took
from newsletter.store.campaigns import CampaignSummary, DeliveryState, campaign_summaries
from newsletter.store.lists import list_summaries
from newsletter.store.models import MembershipStatus
from newsletter.web.context import get_context
from newsletter.web.db import reading
from newsletter.web.staff.context import Staff, render, staff

router = APIRouter()

RECENT_CAMPAIGNS = 5
# Where "New issue" leads: the issue editor's empty form (newsletter.web.staff.editor).
NEW_ISSUE = "/issues/new"


def campaign_row(summary: CampaignSummary) -> dict[str, object]:
    """One campaign as the dashboard shows it."""
    return {
        "id": summary.id,
        "subject": summary.subject,
        "list_name": summary.list_name,
        "status": summary.status.value,
        "total": summary.total,
        "sent": summary.counts[DeliveryState.SENT],
        "failed": summary.counts[DeliveryState.FAILED],
        "left": summary.left,
        "done": summary.total - summary.left,
        "created_at": f"{summary.created_at:%Y-%m-%d %H:%M} UTC",
        "finished_at": finish_time(summary.finished_at),
        "took": took(summary.created_at, summary.finished_at),
    }


@router.get("/")
def home(request: Request, who: Staff = Depends(staff)) -> HTMLResponse:
    with reading(get_context(request)) as session:
        recent = campaign_summaries(session, limit=RECENT_CAMPAIGNS)
        lists = list_summaries(session)
    values = {
        "title": "Staff area",
        "campaigns": [campaign_row(summary) for summary in recent],
        "lists": lists,
        "active": MembershipStatus.ACTIVE,
        "new_issue": NEW_ISSUE,
    }
    return render(request, "home.html", values, who=who)
