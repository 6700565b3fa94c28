from __future__ import annotations

import pytest

from newsletter.store.errors import DuplicateListError, StoreError, UnknownListError
from newsletter.store.lists import (
    create_list,
    get_list,
    list_summaries,
    list_summary,
    set_list_language,
    update_list,
)
from newsletter.store.models import MembershipStatus, SuppressionReason
from newsletter.store.subscriptions import subscribe, suppress, unsubscribe
from tests.store.databases import session_scope
from tests.store.helpers import new_list


def test_lists_are_created_once_by_name(db: str) -> None:
    members = new_list("members", "Institute members")
    with session_scope(write=True) as session:
        assert get_list(session, "members").id == members
        assert get_list(session, "members").description == "Institute members"
        with pytest.raises(DuplicateListError, match="a list named 'members' already exists"):
            create_list(session, " members ")
        with pytest.raises(StoreError, match="needs a name"):
            create_list(session, "  ")
        with pytest.raises(UnknownListError, match="no list named 'Members'"):
            get_list(session, "Members")


def test_summaries_count_each_status_and_who_is_eligible(db: str) -> None:
    members, press = new_list("members"), new_list("press")
    new_list("empty")
    with session_scope(write=True) as session:
        for i in range(5):
            subscribe(session, members, f"m{i}@example.org", source="test")
        subscribe(
            session, members, "u@example.org", source="web", status=MembershipStatus.UNCONFIRMED
        )
        gone = subscribe(session, members, "gone@example.org", source="test")
        unsubscribe(session, gone.subscriber_id, members, source="test")
        subscribe(session, press, "m0@example.org", source="test")
        suppress(session, "m1@example.org", SuppressionReason.BOUNCED, source="test")
    with session_scope() as session:
        summaries = {summary.name: summary for summary in list_summaries(session)}
    assert list(summaries) == ["empty", "members", "press"]
    assert summaries["members"].counts == {
        MembershipStatus.ACTIVE: 5,
        MembershipStatus.UNSUBSCRIBED: 1,
        MembershipStatus.UNCONFIRMED: 1,
    }
    assert summaries["members"].eligible == 4
    assert summaries["press"].counts[MembershipStatus.ACTIVE] == 1
    assert summaries["empty"].eligible == 0
    assert sum(summaries["empty"].counts.values()) == 0
    # One list's summary, read on its own, is the same as in the list of all.
    with session_scope() as session:
        for summary in summaries.values():
            assert list_summary(session, summary.id) == summary
        assert list_summary(session, 999_999) is None


def test_a_list_speaks_english_unless_given_a_language(db: str) -> None:
    with session_scope(write=True) as session:
        assert create_list(session, "members").language is None
        assert create_list(session, "urdu", language=" ur-PK ").language == "ur-PK"
        assert create_list(session, "blank", language="").language is None
        with pytest.raises(StoreError, match="'Urdu please' is not a language tag"):
            create_list(session, "bad", language="Urdu please")
    with session_scope(write=True) as session:
        assert get_list(session, "urdu").language == "ur-PK"
        assert set_list_language(session, "members", "ar").language == "ar"
        assert set_list_language(session, "urdu", None).language is None
        with pytest.raises(StoreError, match="not a language tag"):
            set_list_language(session, "members", "x" * 40)
        with pytest.raises(UnknownListError):
            set_list_language(session, "nope", "ur")
    with session_scope() as session:
        assert get_list(session, "members").language == "ar"
        assert get_list(session, "urdu").language is None


def test_a_list_is_renamed_and_given_a_public_name(db: str) -> None:
    members, press = new_list("members"), new_list("press")
    with session_scope(write=True) as session:
        renamed = update_list(
            session,
            members,
            name=" staff ",
            public_name="  Institute staff news ",
            description="Monthly, for everyone at the institute",
            language="ur",
        )
        assert renamed.shown_name == "Institute staff news"
        with pytest.raises(DuplicateListError):
            update_list(session, press, name="staff", public_name="", description="", language="")
        with pytest.raises(StoreError, match="language tag"):
            update_list(session, press, name="press", public_name="", description="", language="?")
        with pytest.raises(StoreError, match="at most 200"):
            update_list(
                session, press, name="press", public_name="x" * 201, description="", language=""
            )
    with session_scope() as session:
        # The internal name is the key the CLI looks lists up by.
        found = get_list(session, "staff")
        assert (found.public_name, found.language) == ("Institute staff news", "ur")
        assert get_list(session, "press").shown_name == "press"
        summary = list_summary(session, members)
    assert summary is not None and summary.public_name == "Institute staff news"


def test_a_public_name_can_be_given_at_creation(db: str) -> None:
    with session_scope(write=True) as session:
        created = create_list(session, "members", public_name="Seminar news")
        blank = create_list(session, "press", public_name=" ")
    assert (created.public_name, blank.public_name) == ("Seminar news", None)
