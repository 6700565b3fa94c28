"""What the providers' bounce and complaint reports do to the store.

A hard bounce or a complaint suppresses the address (with its event: how, "webhook:" and
the provider; from where, the provider's event id and words). A soft bounce is an event
of its own kind, counted per subscriber
(`newsletter.store.subscribers.soft_bounce_count`), and suppresses nothing. An
address that is not a subscriber is ignored.

Each event id is claimed once in `webhook_receipts`, in the caller's transaction: a
replayed request, or the provider retrying one whose answer it missed, finds its ids
claimed and changes nothing. The primary key makes that hold between concurrent requests
too (PostgreSQL makes the second insert wait for the first transaction, then refuses it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import PrimaryKeyConstraint, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.store.addresses import lookup_key
from newsletter.store.models import Base, EventKind, Subscriber, SuppressionReason
from newsletter.store.subscriptions import record_event, suppress
from newsletter.store.types import utcnow
from newsletter.webhooks.reports import MAX_EVENT_ID, Report, ReportKind

_REASONS = {
    ReportKind.HARD_BOUNCE: SuppressionReason.BOUNCED,
    ReportKind.COMPLAINT: SuppressionReason.COMPLAINED,
}


class WebhookReceipt(Base):
    """A provider event already acted on."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (PrimaryKeyConstraint("provider", "event_id"),)

    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(MAX_EVENT_ID))
    received_at: Mapped[datetime]


@dataclass
class Outcome:
    suppressed: int = 0
    soft_bounces: int = 0
    # Already suppressed, or not a subscriber.
    unchanged: int = 0
    # In an event acted on before.
    replayed: int = 0

    def __str__(self) -> str:
        return (
            f"suppressed {self.suppressed}, soft bounces {self.soft_bounces}, "
            f"unchanged {self.unchanged}, replayed {self.replayed}"
        )


def apply_reports(session: Session, reports: Iterable[Report]) -> Outcome:
    """Act on each report whose event was not acted on before. Never commits."""
    outcome = Outcome()
    claimed: dict[tuple[str, str], bool] = {}
    for report in reports:
        key = (report.provider, report.event_id)
        if key not in claimed:
            claimed[key] = _claim(session, *key)
        if not claimed[key]:
            outcome.replayed += 1
        elif _apply(session, report):
            if report.kind == ReportKind.SOFT_BOUNCE:
                outcome.soft_bounces += 1
            else:
                outcome.suppressed += 1
        else:
            outcome.unchanged += 1
    return outcome


def _claim(session: Session, provider: str, event_id: str) -> bool:
    try:
        # A savepoint, so a refused insert leaves the caller's transaction usable.
        with session.begin_nested():
            session.add(WebhookReceipt(provider=provider, event_id=event_id, received_at=utcnow()))
        return True
    except IntegrityError:
        return False


def _apply(session: Session, report: Report) -> bool:
    subscriber = session.scalar(
        select(Subscriber).where(Subscriber.email_key == lookup_key(report.email))
    )
    if subscriber is None:
        return False
    source = f"webhook:{report.provider}"
    detail = f"{report.provider} event {report.event_id}: {report.kind}"
    if report.detail:
        detail = f"{detail}, {report.detail}"
    if report.kind == ReportKind.SOFT_BOUNCE:
        record_event(
            session,
            EventKind.SOFT_BOUNCED,
            subscriber_id=subscriber.id,
            list_id=None,
            source=source,
            detail=detail,
        )
        session.flush()
        return True
    return suppress(session, subscriber.email, _REASONS[report.kind], source=source, detail=detail)
