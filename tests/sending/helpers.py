"""Shared by the sending tests: lists in every state, a small issue, campaigns, rows."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from newsletter.core.settings import Settings
from newsletter.issue.model import Asset, Issue
from newsletter.mail.sender import Sender
from newsletter.sending.runner import Progress
from newsletter.store.campaigns import (
    Campaign,
    CampaignRunner,
    Delivery,
    DeliveryState,
    create_campaign,
)
from newsletter.store.importer import Rejection, import_file
from newsletter.store.lists import create_list
from newsletter.store.models import MembershipStatus, SuppressionReason
from newsletter.store.subscriptions import subscribe, suppress, unsubscribe
from newsletter.transports.smtp import SmtpTransport, parse_smtp_url
from tests.store.databases import current_engine, session_scope

HTML = (
    "<html><body><p>Dear __NL_NAME__,</p><p>Sent to <b>__NL_EMAIL__</b>.</p>"
    '<img src="cid:photo.png@newsletter" alt="photo">'
    '<a href="__NL_UNSUBSCRIBE_URL__">Unsubscribe</a> '
    '<a href="__NL_PREFERENCES_URL__">Preferences</a> '
    '<a href="__NL_FORWARD_URL__">Forward</a></body></html>'
)
TEXT = "Dear __NL_NAME__,\nSent to __NL_EMAIL__.\nUnsubscribe: __NL_UNSUBSCRIBE_URL__\n"
FROM = "MUSLIM Institute <newsletter@example.org>"
PHOTO = Asset("photo.png", "image/png", b"\x89PNG\r\n\x1a\nnot really a png")


def small_issue(**changes: Any) -> Issue:
    values: dict[str, Any] = {
        "slug": "2024-05-02-a-small-seminar",
        "subject": "A Small Seminar",
        "preheader": "What was said",
        "language": "en",
        "direction": "ltr",
        "html": HTML,
        "text": TEXT,
        "web_html": "<html><body>web version</body></html>",
        "print_html": "<html><body>print version</body></html>",
        "images": "hosted",
        "assets": (PHOTO,),
    }
    values.update(changes)
    return Issue(**values)


def sending_settings(**changes: Any) -> Settings:
    """Settings for a test send: quick retries, everything else as configured."""
    values: dict[str, Any] = {
        "from_address": FROM,
        "send_retry_base": 0.01,
        "send_retry_max": 0.05,
        "send_lease_timeout": 30.0,
    }
    values.update(changes)
    return Settings(**values)


@dataclass(frozen=True)
class Audience:
    id: int
    name: str
    # Who a campaign must reach, and who it must not.
    eligible: list[str]
    excluded: list[str]


def populated_list(name: str = "members", active: int = 6) -> Audience:
    """A list with `active` eligible members and one of each kind that must not be mailed:
    unsubscribed from it, suppressed (bounced earlier), unconfirmed, and a member of
    another list only. A duplicate address cannot exist: subscribing it again (in another
    case) finds the same subscriber."""
    eligible = [f"r{i}@example.net" for i in range(1, active + 1)]
    with session_scope(write=True) as session:
        list_id = create_list(session, name).id
        other_id = create_list(session, f"{name}-other").id
        if active <= 50:
            for address in eligible:
                subscribe(session, list_id, address, name=_name(address), source="test")
    if active > 50:
        _import(name, eligible)
    with session_scope(write=True) as session:
        # The same person again, in other letter case: still one subscriber.
        subscribe(session, list_id, eligible[0].upper(), source="test")
        left = subscribe(session, list_id, "left@example.net", source="test")
        unsubscribe(session, left.subscriber_id, list_id, source="test")
        subscribe(session, list_id, "bounced@example.net", source="test")
        suppress(session, "bounced@example.net", SuppressionReason.BOUNCED, source="test")
        subscribe(
            session,
            list_id,
            "unconfirmed@example.net",
            source="test",
            status=MembershipStatus.UNCONFIRMED,
        )
        subscribe(session, other_id, "elsewhere@example.net", source="test")
    excluded = [
        "left@example.net",
        "bounced@example.net",
        "unconfirmed@example.net",
        "elsewhere@example.net",
    ]
    return Audience(list_id, name, eligible, excluded)


def new_campaign(audience: Audience, *, issue: Issue | None = None, transport: str = "smtp") -> int:
    with session_scope(write=True) as session:
        campaign = create_campaign(
            session,
            list_id=audience.id,
            list_name=audience.name,
            issue=issue or small_issue(),
            transport=transport,
            sender=Sender(
                from_address=FROM,
                reply_to=None,
                return_path="bounces@example.org",
                unsubscribe_mailto=None,
                public_url="https://news.example.org",
            ),
        )
        return campaign.id


@dataclass(frozen=True)
class Row:
    id: int
    email: str
    state: DeliveryState
    attempts: int
    detail: str | None
    committed_at: datetime | None
    hard_bounce: bool
    not_before: datetime | None
    unanswered: int = 0


def rows(campaign_id: int) -> dict[str, Row]:
    """The campaign's deliveries by address."""
    with session_scope() as session:
        found = session.scalars(
            select(Delivery).where(Delivery.campaign_id == campaign_id).order_by(Delivery.id)
        ).all()
        return {
            d.email: Row(
                d.id,
                d.email,
                d.state,
                d.attempts,
                d.detail,
                d.committed_at,
                d.hard_bounce,
                d.not_before,
                d.unanswered,
            )
            for d in found
        }


def campaign(campaign_id: int) -> Campaign:
    with session_scope() as session:
        found = session.get(Campaign, campaign_id)
        assert found is not None
        return found


def after_first_batch(action: Callable[[], object]) -> Callable[[Progress], None]:
    """A progress callback that does `action` once, when the first messages are sent."""
    done: list[bool] = []

    def on_progress(progress: Progress) -> None:
        if progress.tally.sent and not done:
            done.append(True)
            action()

    return on_progress


def smtp_transport(port: int, connections: int = 2) -> SmtpTransport:
    return SmtpTransport(
        parse_smtp_url(f"smtp://127.0.0.1:{port}"), connections=connections, timeout=5
    )


def _name(address: str) -> str:
    return f"Reader {address.split('@')[0][1:]}"


def _import(list_name: str, addresses: list[str]) -> None:
    """Many subscribers at once, through the importer (one transaction)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "list.csv"
        path.write_text("email,name\n" + "".join(f"{a},{_name(a)}\n" for a in addresses))
        rejected: list[Rejection] = []
        import_file(list_name, path, rejected.append, engine=current_engine())
        assert rejected == [], rejected


def leave_runner(
    campaign_id: int, owner: str, heartbeat: datetime, *, shared: bool = False
) -> None:
    """A runner's row as one that stopped without a word leaves it."""
    with session_scope(write=True) as session:
        session.add(
            CampaignRunner(campaign_id=campaign_id, owner=owner, heartbeat=heartbeat, shared=shared)
        )
