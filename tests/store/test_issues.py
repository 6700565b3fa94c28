"""Issues in the database: versions kept, conflicting saves refused, copies, deletion."""

from __future__ import annotations

import datetime as dt

import pytest

from newsletter.issue.model import Asset
from newsletter.record.model import Record
from newsletter.store.campaigns import Campaign
from newsletter.store.issues import (
    IssuePhoto,
    SlugTakenError,
    StaleVersionError,
    UnknownIssueError,
    create_issue,
    delete_issue,
    duplicate_issue,
    get_version,
    list_issues,
    list_versions,
    restore_version,
    save_version,
    version_by_id,
)
from tests.store.databases import session_scope

PHOTO = Asset("speaker-1-ada.jpg", "image/jpeg", b"\xff\xd8\xff not really a jpeg")


def record(title: str = "Water and Peace", **changes: object) -> Record:
    fields: dict[str, object] = {
        "title": title,
        "date": "2024-03-01",
        "organiser": "MUSLIM Institute",
        "summary": "A seminar on water.",
        "speakers": [
            {"name": "Ada", "role": "Chair", "remarks": "Welcome.", "photo": PHOTO.filename}
        ],
    }
    fields.update(changes)
    return Record.model_validate(fields)


def test_a_new_issue_is_version_one_with_its_photos(db: str) -> None:
    with session_scope(write=True) as session:
        saved = create_issue(session, record(), {PHOTO.filename: PHOTO}, saved_by="a@example.org")
    assert saved.number == 1
    with session_scope() as session:
        again = get_version(session, saved.issue_id)
        assert [(i.id, i.title, i.head) for i in list_issues(session)] == [
            (saved.issue_id, "Water and Peace", 1)
        ]
    # The address made from its date and title is kept with it from now on.
    assert again.record == record(slug="2024-03-01-water-and-peace")
    assert again.record.date == dt.date(2024, 3, 1)
    assert again.photos == {PHOTO.filename: PHOTO}
    assert again.saved_by == "a@example.org"
    loaded = again.loaded()
    assert loaded.photos[PHOTO.filename].data == PHOTO.data


def test_every_save_is_kept_and_photos_are_stored_once(db: str) -> None:
    with session_scope(write=True) as session:
        first = create_issue(session, record(), {PHOTO.filename: PHOTO})
        second = save_version(
            session, first.issue_id, 1, record("Water and Peace, again"), {PHOTO.filename: PHOTO}
        )
    assert second.number == 2
    with session_scope() as session:
        versions = list_versions(session, first.issue_id)
        assert [(v.number, v.title) for v in versions] == [
            (2, "Water and Peace, again"),
            (1, "Water and Peace"),
        ]
        assert get_version(session, first.issue_id, 1).record.title == "Water and Peace"
        assert get_version(session, first.issue_id).number == 2
        assert version_by_id(session, first.id).number == 1
        photos = session.query(IssuePhoto).filter_by(issue_id=first.issue_id).count()
        assert photos == 1
        assert list_issues(session)[0].title == "Water and Peace, again"


def test_photos_no_speaker_shows_are_not_kept(db: str) -> None:
    with session_scope(write=True) as session:
        saved = create_issue(session, record(speakers=[]), {PHOTO.filename: PHOTO})
    assert saved.photos == {}


def test_a_save_based_on_an_older_version_is_refused(db: str) -> None:
    with session_scope(write=True) as session:
        first = create_issue(session, record(), {})
        save_version(session, first.issue_id, 1, record("Mine"), {}, saved_by="b@example.org")
    with pytest.raises(StaleVersionError) as refused, session_scope(write=True) as session:
        save_version(session, first.issue_id, 1, record("Theirs"), {}, saved_by="c@example.org")
    assert refused.value.latest == 2
    assert "saved again by b@example.org (version 2)" in str(refused.value)
    assert "Reload" in str(refused.value)
    with session_scope() as session:
        assert get_version(session, first.issue_id).record.title == "Mine"
        assert len(list_versions(session, first.issue_id)) == 2


def test_unknown_issues_and_versions(db: str) -> None:
    with session_scope(write=True) as session:
        with pytest.raises(UnknownIssueError, match="no issue 99"):
            get_version(session, 99)
        with pytest.raises(UnknownIssueError, match="no issue 99"):
            save_version(session, 99, 1, record(), {})
        saved = create_issue(session, record(), {})
        with pytest.raises(UnknownIssueError, match="no version 5 of issue"):
            get_version(session, saved.issue_id, 5)


def test_restoring_a_version_makes_a_new_one(db: str) -> None:
    with session_scope(write=True) as session:
        first = create_issue(session, record(), {PHOTO.filename: PHOTO})
        save_version(session, first.issue_id, 1, record("Changed", speakers=[]), {})
        restored = restore_version(session, first.issue_id, 1, 2, saved_by="a@example.org")
    assert restored.number == 3
    assert restored.note == "restored version 1"
    with session_scope() as session:
        latest = get_version(session, first.issue_id)
    assert latest.record == record(slug="2024-03-01-water-and-peace")
    assert latest.photos == {PHOTO.filename: PHOTO}


def test_duplicate_and_delete(db: str) -> None:
    with session_scope(write=True) as session:
        first = create_issue(session, record(slug="water"), {PHOTO.filename: PHOTO})
        copy = duplicate_issue(session, first.issue_id)
    assert copy.issue_id != first.issue_id and copy.number == 1
    assert copy.record.title == "Copy of Water and Peace"
    # Its own address, from its own title: two issues must not share one.
    assert copy.record.slug == "2024-03-01-copy-of-water-and-peace"
    assert copy.photos == {PHOTO.filename: PHOTO}
    with session_scope(write=True) as session:
        session.add(_campaign(version_id=first.id))
    with session_scope(write=True) as session:
        delete_issue(session, first.issue_id)
        with pytest.raises(UnknownIssueError):
            delete_issue(session, first.issue_id)
    with session_scope() as session:
        assert [i.id for i in list_issues(session)] == [copy.issue_id]
        assert get_version(session, copy.issue_id).photos == {PHOTO.filename: PHOTO}
        # The campaign sent from it stays on record, naming no version any more.
        campaign = session.query(Campaign).one()
        assert campaign.issue_version_id is None


def test_the_address_is_kept_across_versions_and_never_shared(db: str) -> None:
    with session_scope(write=True) as session:
        first = create_issue(session, record(), {})
        address = first.record.slug
        assert address == "2024-03-01-water-and-peace"
        # A new title keeps the address the record names (the editor's form carries it).
        renamed = save_version(
            session, first.issue_id, 1, record("Water, Peace and Power", slug=address), {}
        )
        assert renamed.record.slug == address
        # Another issue of that title and day gets the address made unique.
        second = create_issue(session, record(), {})
        assert second.record.slug == "2024-03-01-water-and-peace-2"
        assert create_issue(session, record(), {}).record.slug == "2024-03-01-water-and-peace-3"
        with pytest.raises(SlugTakenError) as taken:
            create_issue(session, record(slug=address), {})
        assert str(taken.value) == (
            f"the web address {address!r} is already the address of issue "
            f"{first.issue_id}, 'Water, Peace and Power'; choose another"
        )
        with pytest.raises(SlugTakenError, match=f"issue {first.issue_id},"):
            save_version(session, second.issue_id, 1, record(slug=address), {})
    with session_scope() as session:
        assert get_version(session, second.issue_id).number == 1  # nothing was saved


def test_an_address_sent_from_another_issue_stays_that_issues(db: str) -> None:
    with session_scope(write=True) as session:
        first = create_issue(session, record(slug="water"), {})
        session.add(_campaign(version_id=first.id, slug="water"))
        # The first issue moves to a new address; its newsletter's links still go to "water".
        save_version(session, first.issue_id, 1, record(slug="water-and-peace"), {})
        # Its own old address is still its own to take back.
        save_version(session, first.issue_id, 2, record(slug="water"), {})
        save_version(session, first.issue_id, 3, record(slug="water-and-peace"), {})
        other = create_issue(session, record("Other"), {})
        with pytest.raises(SlugTakenError) as taken:
            save_version(session, other.issue_id, 1, record("Other", slug="water"), {})
        assert f"a newsletter sent from issue {first.issue_id} on " in str(taken.value)
        # Restoring a version whose address is now another issue's is refused the same way.
        save_version(session, other.issue_id, 1, record("Other", slug="other-one"), {})
        save_version(session, other.issue_id, 2, record("Other", slug="water-and-peace-x"), {})
        save_version(session, first.issue_id, 4, record(slug="other-one"), {})
        with pytest.raises(SlugTakenError, match=f"issue {first.issue_id},"):
            restore_version(session, other.issue_id, 2, 3)


def _campaign(version_id: int, slug: str = "s") -> Campaign:
    from newsletter.store.types import utcnow

    now = utcnow()
    return Campaign(
        list_id=None,
        list_name="members",
        status="done",
        transport="smtp",
        token="t0ken",
        created_at=now,
        updated_at=now,
        slug=slug,
        subject="s",
        preheader="",
        language="en",
        direction="ltr",
        images="hosted",
        html="",
        text="",
        web_html="",
        print_html="",
        from_address="a@example.org",
        return_path="a@example.org",
        public_url="https://example.org",
        issue_version_id=version_id,
    )
