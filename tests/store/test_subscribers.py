from __future__ import annotations

import pytest

from newsletter.store.errors import UnknownSubscriberError
from newsletter.store.models import EventKind
from newsletter.store.subscribers import find_subscriber, subscriber_details
from newsletter.store.subscriptions import subscribe, unsubscribe
from tests.store.databases import session_scope
from tests.store.helpers import SAMPLE, new_list, run_import


def test_lookup_is_case_insensitive(db: str) -> None:
    new_list("members")
    run_import("members", SAMPLE)
    with session_scope() as session:
        found = find_subscriber(session, "  J.OKAFOR@example.COM ")
        assert found is not None and found.name == "James Okafor"
        assert find_subscriber(session, "nobody@example.org") is None
        assert find_subscriber(session, "not an address") is None


def test_details_gather_lists_suppression_and_events(db: str) -> None:
    members, press = new_list("members"), new_list("press")
    with session_scope(write=True) as session:
        anna = subscribe(session, members, "anna@example.org", name="Anna", source="web")
        subscribe(session, press, "anna@example.org", source="cli")
        unsubscribe(session, anna.subscriber_id, None, source="one-click", detail="192.0.2.1")
    with session_scope() as session:
        details = subscriber_details(session, "Anna@Example.org")
        with pytest.raises(UnknownSubscriberError, match="no subscriber with the address"):
            subscriber_details(session, "bob@example.org")
    assert details.subscriber.name == "Anna"
    assert [(lst.name, m.status) for lst, m in details.memberships] == [
        ("members", "unsubscribed"),
        ("press", "unsubscribed"),
    ]
    assert details.suppression is not None and details.suppression.reason == "unsubscribed"
    assert [event.kind for event, _ in details.events] == [
        EventKind.UNSUBSCRIBED,
        EventKind.SUBSCRIBED,
        EventKind.SUBSCRIBED,
    ]
    assert [list_name for _, list_name in details.events] == [None, "press", "members"]
