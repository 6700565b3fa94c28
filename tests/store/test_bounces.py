from __future__ import annotations

import threading

from sqlalchemy import func, select

from newsletter.store.bounces import Outcome, WebhookReceipt, apply_reports
from newsletter.store.models import Event, EventKind, Suppression, SuppressionReason
from newsletter.store.subscribers import soft_bounce_count, subscriber_details
from newsletter.store.subscriptions import subscribe
from newsletter.webhooks.reports import Report, ReportKind
from tests.store.databases import session_scope
from tests.store.helpers import eligible_count, new_list


def add(list_id: int, email: str) -> int:
    with session_scope(write=True) as session:
        return subscribe(session, list_id, email, source="test").subscriber_id


def apply(*reports: Report) -> Outcome:
    with session_scope(write=True) as session:
        return apply_reports(session, reports)


def report(
    kind: ReportKind, email: str, event_id: str = "ev-1", provider: str = "sendgrid"
) -> Report:
    return Report(provider, event_id, kind, email, "550 5.1.1 user unknown")


def suppression(email: str) -> Suppression | None:
    with session_scope() as session:
        return session.scalar(select(Suppression).where(Suppression.email_key == email.lower()))


def events(subscriber_id: int) -> list[tuple[str, str, str | None]]:
    with session_scope() as session:
        return [
            (event.kind.value, event.source, event.detail)
            for event in session.scalars(
                select(Event).where(Event.subscriber_id == subscriber_id).order_by(Event.id)
            )
        ]


def soft_bounces(subscriber_id: int) -> int:
    with session_scope() as session:
        return soft_bounce_count(session, subscriber_id)


def test_a_hard_bounce_suppresses_with_an_audit_event(db: str) -> None:
    members = new_list("members")
    ana = add(members, "Ana@Example.org")
    outcome = apply(report(ReportKind.HARD_BOUNCE, "ana@example.org", "sg-1"))
    assert outcome == Outcome(suppressed=1)
    found = suppression("ana@example.org")
    assert found is not None and found.reason == SuppressionReason.BOUNCED
    assert events(ana)[-1] == (
        "bounced",
        "webhook:sendgrid",
        "sendgrid event sg-1: hard bounce, 550 5.1.1 user unknown",
    )
    with session_scope() as session:
        assert eligible_count(session, members) == 0


def test_a_complaint_suppresses_and_outranks_a_bounce(db: str) -> None:
    ana = add(new_list("members"), "ana@example.org")
    apply(report(ReportKind.HARD_BOUNCE, "ana@example.org", "1"))
    assert apply(report(ReportKind.COMPLAINT, "ana@example.org", "2")) == Outcome(suppressed=1)
    found = suppression("ana@example.org")
    assert found is not None and found.reason == SuppressionReason.COMPLAINED
    assert [kind for kind, _, _ in events(ana)] == ["subscribed", "bounced", "complained"]
    # A later hard bounce changes nothing: a complaint is the stronger reason.
    assert apply(report(ReportKind.HARD_BOUNCE, "ana@example.org", "3")) == Outcome(unchanged=1)
    assert len(events(ana)) == 3


def test_a_soft_bounce_is_counted_and_suppresses_nothing(db: str) -> None:
    ana = add(new_list("members"), "ana@example.org")
    assert apply(report(ReportKind.SOFT_BOUNCE, "ana@example.org", "1")) == Outcome(soft_bounces=1)
    apply(report(ReportKind.SOFT_BOUNCE, "ana@example.org", "2"))
    assert suppression("ana@example.org") is None
    assert soft_bounces(ana) == 2
    assert events(ana)[-1][:2] == ("soft_bounced", "webhook:sendgrid")
    with session_scope() as session:
        assert subscriber_details(session, "ana@example.org").soft_bounces == 2


def test_a_replayed_event_changes_nothing(db: str) -> None:
    ana = add(new_list("members"), "ana@example.org")
    soft = report(ReportKind.SOFT_BOUNCE, "ana@example.org", "same")
    apply(soft)
    assert apply(soft) == Outcome(replayed=1)
    assert soft_bounces(ana) == 1
    # The id is the provider's: another provider's event with that id is another event.
    assert apply(report(ReportKind.SOFT_BOUNCE, "ana@example.org", "same", "mailgun")) == (
        Outcome(soft_bounces=1)
    )


def test_all_recipients_of_one_event_are_acted_on_once(db: str) -> None:
    members = new_list("members")
    ana, bo = add(members, "ana@example.org"), add(members, "bo@example.org")
    both = [
        report(ReportKind.HARD_BOUNCE, "ana@example.org", "sns-1", "ses"),
        report(ReportKind.HARD_BOUNCE, "bo@example.org", "sns-1", "ses"),
    ]
    assert apply(*both) == Outcome(suppressed=2)
    assert apply(*both) == Outcome(replayed=2)
    assert [kind for kind, _, _ in events(ana) + events(bo)].count("bounced") == 2


def test_unknown_addresses_are_ignored(db: str) -> None:
    add(new_list("members"), "ana@example.org")
    outcome = apply(
        report(ReportKind.HARD_BOUNCE, "stranger@example.org", "1"),
        report(ReportKind.COMPLAINT, "not an address", "2"),
    )
    assert outcome == Outcome(unchanged=2)
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Suppression)) == 0
        assert (
            session.scalar(
                select(func.count()).select_from(Event).where(Event.kind != EventKind.SUBSCRIBED)
            )
            == 0
        )


def test_concurrent_deliveries_of_one_event_act_once(db: str) -> None:
    ana = add(new_list("members"), "ana@example.org")
    soft = report(ReportKind.SOFT_BOUNCE, "ana@example.org", "retried")
    start = threading.Barrier(4)
    outcomes: list[Outcome] = []

    def deliver() -> None:
        start.wait()
        outcomes.append(apply(soft))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.soft_bounces for o in outcomes) == [0, 0, 0, 1]
    assert soft_bounces(ana) == 1
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(WebhookReceipt)) == 1
