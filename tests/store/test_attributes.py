from __future__ import annotations

from newsletter.store.attributes import attribute_labels
from newsletter.store.lists import create_list
from newsletter.store.models import SuppressionReason
from newsletter.store.subscriptions import subscribe, suppress, unsubscribe
from tests.store.databases import session_scope


def test_the_labels_of_the_lists_eligible_recipients(db: str) -> None:
    with session_scope(write=True) as session:
        members = create_list(session, "members").id
        other = create_list(session, "other").id
        subscribe(session, members, "a@example.net", attributes={"First Name": "A"}, source="test")
        subscribe(
            session,
            members,
            "b@example.net",
            attributes={"First Name": "B", "city": "Lahore"},
            source="test",
        )
        subscribe(session, members, "plain@example.net", source="test")
        # Recipients a campaign would not reach do not count.
        left = subscribe(
            session, members, "left@example.net", attributes={"left": "y"}, source="test"
        )
        unsubscribe(session, left.subscriber_id, members, source="test")
        subscribe(
            session, members, "bounced@example.net", attributes={"bounced": "y"}, source="test"
        )
        suppress(session, "bounced@example.net", SuppressionReason.BOUNCED, source="test")
        subscribe(session, other, "o@example.net", attributes={"elsewhere": "y"}, source="test")
        empty = create_list(session, "empty").id
    with session_scope() as session:
        assert attribute_labels(session, members) == {"First Name", "city"}
        assert attribute_labels(session, other) == {"elsewhere"}
        assert attribute_labels(session, empty) == set()
