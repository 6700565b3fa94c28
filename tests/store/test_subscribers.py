from __future__ import annotations

import pytest

from newsletter.store.addresses import InvalidAddress
from newsletter.store.erasure import erase_subscriber
from newsletter.store.errors import (
    AddressTakenError,
    StoreError,
    SuppressedError,
    UnknownSubscriberError,
)
from newsletter.store.models import EventKind, MembershipStatus, Subscriber, SuppressionReason
from newsletter.store.subscribers import (
    change_email,
    find_subscriber,
    search_subscribers,
    subscriber_details,
    update_subscriber,
)
from newsletter.store.subscriptions import subscribe, suppress, unsubscribe
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


def test_search_matches_address_or_name_in_any_case(db: str) -> None:
    members, press = new_list("members"), new_list("press")
    with session_scope(write=True) as session:
        subscribe(session, members, "anna@example.org", name="Anna Khan", source="test")
        subscribe(session, press, "anna@example.org", source="test")
        subscribe(session, members, "bob@example.org", name="Bob", source="test")
        subscribe(session, members, "100%@example.org", name="Percent", source="test")
    with session_scope() as session:
        by_name = search_subscribers(session, "KHAN")
        by_address = search_subscribers(session, "@EXAMPLE")
        literal = search_subscribers(session, "%")
        newest = search_subscribers(session, "", limit=2)
        in_press = search_subscribers(session, "", list_id=press)
    assert [(f.email, f.name) for f in by_name] == [("anna@example.org", "Anna Khan")]
    assert by_name[0].lists == [
        ("members", MembershipStatus.ACTIVE),
        ("press", MembershipStatus.ACTIVE),
    ]
    assert [f.email for f in by_address] == [
        "100%@example.org",
        "anna@example.org",
        "bob@example.org",
    ]
    assert [f.email for f in literal] == ["100%@example.org"]
    assert [f.email for f in newest] == ["100%@example.org", "bob@example.org"]
    assert [f.email for f in in_press] == ["anna@example.org"]


def test_an_edit_changes_name_and_attributes_and_is_in_the_history(db: str) -> None:
    members = new_list("members")
    with session_scope(write=True) as session:
        anna = subscribe(
            session,
            members,
            "anna@example.org",
            name="Anna",
            attributes={"city": "Lahore", "org": "IPS"},
            source="test",
        )
    with session_scope(write=True) as session:
        changed = update_subscriber(
            session,
            anna.subscriber_id,
            name=" Anna Khan ",
            attributes={"city": "Karachi", "title": "Dr"},
            source="staff",
            detail="comms@example.org",
        )
        unchanged = update_subscriber(
            session,
            anna.subscriber_id,
            name="Anna Khan",
            attributes={"city": "Karachi", "title": "Dr"},
            source="staff",
        )
        with pytest.raises(StoreError, match="needs a name"):
            update_subscriber(
                session, anna.subscriber_id, name="", attributes={" ": "x"}, source="staff"
            )
    assert (changed, unchanged) == (True, False)
    with session_scope() as session:
        details = subscriber_details(session, "anna@example.org")
    assert details.subscriber.name == "Anna Khan"
    assert details.subscriber.attributes == {"city": "Karachi", "title": "Dr"}
    event, _ = details.events[0]
    assert event.kind == EventKind.EDITED
    assert event.detail == "changed name, city, org, title (comms@example.org)"


def test_change_email_keeps_lists_and_records_both_addresses(db: str) -> None:
    members, press = new_list("members"), new_list("press")
    with session_scope(write=True) as session:
        anna = subscribe(session, members, "anna@exmaple.org", name="Anna", source="test")
        subscribe(session, press, "anna@exmaple.org", source="test")
    with session_scope(write=True) as session:
        changed = change_email(
            session, anna.subscriber_id, " Anna@Example.org ", source="staff", detail="me@x.org"
        )
        assert changed
    with session_scope() as session:
        assert find_subscriber(session, "anna@exmaple.org") is None
        details = subscriber_details(session, "anna@example.org")
    assert details.subscriber.id == anna.subscriber_id
    # Normalised as every address is: the domain lower-cased, the local part as typed.
    assert details.subscriber.email == "Anna@example.org"
    assert [(lst.name, m.status) for lst, m in details.memberships] == [
        ("members", MembershipStatus.ACTIVE),
        ("press", MembershipStatus.ACTIVE),
    ]
    edited = details.events[0][0]
    assert (edited.kind, edited.source, edited.detail) == (
        EventKind.EDITED,
        "staff",
        "changed email from anna@exmaple.org to Anna@example.org (me@x.org)",
    )
    with session_scope(write=True) as session:
        assert not change_email(session, anna.subscriber_id, "Anna@EXAMPLE.org", source="staff")
        # Only the case of the local part: the same subscriber's address, so no clash.
        assert change_email(session, anna.subscriber_id, "anna@example.org", source="staff")
        found = session.get(Subscriber, anna.subscriber_id)
        assert found is not None and found.email == found.email_key == "anna@example.org"


def test_change_email_refuses_another_subscribers_or_a_suppressed_address(db: str) -> None:
    members = new_list("members")
    with session_scope(write=True) as session:
        anna = subscribe(session, members, "anna@example.org", source="test")
        bob = subscribe(session, members, "bob@example.org", source="test")
        gone = subscribe(session, members, "gone@example.org", source="test")
        suppress(session, "bounced@example.org", SuppressionReason.BOUNCED, source="test")
        erase_subscriber(session, gone.subscriber_id)
    with session_scope(write=True) as session:
        with pytest.raises(
            AddressTakenError, match=f"another subscriber .number {bob.subscriber_id}"
        ):
            change_email(session, anna.subscriber_id, "BOB@example.org", source="staff")
        with pytest.raises(SuppressedError, match="bounced") as bounced:
            change_email(session, anna.subscriber_id, "bounced@example.org", source="staff")
        assert bounced.value.reason == SuppressionReason.BOUNCED
        # An erased address is known only by its hash, and still refused.
        with pytest.raises(SuppressedError, match="erased"):
            change_email(session, anna.subscriber_id, "Gone@example.org", source="staff")
        with pytest.raises(InvalidAddress, match="must have an @-sign"):
            change_email(session, anna.subscriber_id, "anna at example.org", source="staff")
        with pytest.raises(StoreError, match="no subscriber with id 999"):
            change_email(session, 999, "new@example.org", source="staff")
    with session_scope() as session:
        found = session.get(Subscriber, anna.subscriber_id)
        assert found is not None and found.email == "anna@example.org"
        assert [e.kind for e, _ in subscriber_details(session, "anna@example.org").events] == [
            EventKind.SUBSCRIBED
        ]
