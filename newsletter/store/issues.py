"""Issues written in the staff area's editor, with every saved version kept.

An issue is a row that names its latest version; a version is the record as JSON (valid:
the editor saves only what `Record` accepts) and the names of its photos. Photos are
stored once per issue by their content's digest, already prepared for mail
(`newsletter.record.photos`), so saving a version again stores no bytes twice.

Two staff members editing one issue do not overwrite each other: each save names the
version it was based on, and a save based on anything but the latest is refused
(`StaleVersionError`), atomically (the head moves by one conditional UPDATE).

Every version saved names its web address (`Record.slug`), so the address stays what it
was when the title changes. A record without one gets the one made from its date and
title, with "-2", "-3"… when another issue has it. An address chosen is the issue's only
when no other issue has it, nor had it for a newsletter sent (`SlugTakenError`):
`earlier_sends` and the public pages take one address for one issue.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from newsletter.issue.model import Asset
from newsletter.record.archive import record_data
from newsletter.record.model import MAX_SLUG_LENGTH, LoadedRecord, Record, check_slug
from newsletter.store.campaigns import Campaign
from newsletter.store.errors import StoreError
from newsletter.store.models import EMAIL_LENGTH, Base
from newsletter.store.types import utcnow


class UnknownIssueError(StoreError):
    def __init__(self, issue_id: int, number: int | None = None) -> None:
        what = f"issue {issue_id}" if number is None else f"version {number} of issue {issue_id}"
        super().__init__(f"there is no {what}")


class StaleVersionError(StoreError):
    """The save was based on a version that is no longer the latest."""

    def __init__(self, based_on: int, latest: int, saved_by: str | None) -> None:
        self.based_on = based_on
        self.latest = latest
        by = f" by {saved_by}" if saved_by else ""
        super().__init__(
            f"this issue was saved again{by} (version {latest}) after you opened version "
            f"{based_on}; nothing was saved. Reload it to see their changes, then make yours "
            "again"
        )


class SlugTakenError(StoreError):
    """The web address chosen is another issue's, or was when it was sent."""

    def __init__(self, slug: str, whose: str) -> None:
        self.slug = slug
        self.whose = whose
        super().__init__(f"the web address {slug!r} is already {whose}; choose another")


class StoredIssue(Base):
    __tablename__ = "issues"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The latest version's number; a save moves it on by one, from the number it was based on.
    head: Mapped[int] = mapped_column(Integer)
    # The latest version's title, for the list of issues.
    title: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IssueVersion(Base):
    __tablename__ = "issue_versions"
    __table_args__ = (UniqueConstraint("issue_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    # Record.model_dump(mode="json"): a valid record.
    record: Mapped[dict[str, Any]] = mapped_column()
    # Each speaker photo's name (the value of its `photo` field) and its content's digest.
    photos: Mapped[dict[str, Any]] = mapped_column()
    saved_by: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    # How it came about when not by an edit: "imported from x.zip", "restored version 2".
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class IssuePhoto(Base):
    __tablename__ = "issue_photos"
    __table_args__ = (PrimaryKeyConstraint("issue_id", "digest"),)

    issue_id: Mapped[int] = mapped_column(ForeignKey("issues.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class SavedVersion:
    """One version of an issue, with its photos by name."""

    id: int
    issue_id: int
    number: int
    record: Record
    photos: dict[str, Asset]
    saved_by: str | None
    note: str | None
    created_at: datetime

    def loaded(self) -> LoadedRecord:
        """The version as the composer takes a record: its photos need no reading."""
        return LoadedRecord(
            record=self.record, source=Path(f"issue-{self.issue_id}"), photos=self.photos
        )


@dataclass(frozen=True)
class IssueSummary:
    id: int
    title: str
    head: int
    updated_at: datetime


@dataclass(frozen=True)
class VersionSummary:
    id: int
    number: int
    title: str
    saved_by: str | None
    note: str | None
    created_at: datetime


def create_issue(
    session: Session,
    record: Record,
    photos: Mapping[str, Asset],
    *,
    saved_by: str | None = None,
    note: str | None = None,
) -> SavedVersion:
    """A new issue whose version 1 is `record` with `photos` (by the speakers' photo names)."""
    now = utcnow()
    record = with_slug(session, None, record)
    issue = StoredIssue(head=1, title=record.title, created_at=now, updated_at=now)
    session.add(issue)
    session.flush()
    return _add_version(session, issue.id, 1, record, photos, saved_by, note, now)


def save_version(
    session: Session,
    issue_id: int,
    based_on: int,
    record: Record,
    photos: Mapping[str, Asset],
    *,
    saved_by: str | None = None,
    note: str | None = None,
) -> SavedVersion:
    """Version `based_on + 1` of the issue; StaleVersionError when `based_on` is not the
    latest (someone saved in between), UnknownIssueError when there is no such issue,
    SlugTakenError when its web address is another issue's."""
    now = utcnow()
    record = with_slug(session, issue_id, record)
    moved = session.execute(
        update(StoredIssue)
        .where(StoredIssue.id == issue_id, StoredIssue.head == based_on)
        .values(head=based_on + 1, title=record.title, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        latest = session.execute(
            select(IssueVersion.number, IssueVersion.saved_by)
            .where(IssueVersion.issue_id == issue_id)
            .order_by(IssueVersion.number.desc())
            .limit(1)
        ).first()
        if latest is None:
            raise UnknownIssueError(issue_id)
        raise StaleVersionError(based_on, latest.number, latest.saved_by)
    return _add_version(session, issue_id, based_on + 1, record, photos, saved_by, note, now)


def _add_version(
    session: Session,
    issue_id: int,
    number: int,
    record: Record,
    photos: Mapping[str, Asset],
    saved_by: str | None,
    note: str | None,
    now: datetime,
) -> SavedVersion:
    used = {speaker.photo for speaker in record.speakers if speaker.photo}
    kept = {name: asset for name, asset in photos.items() if name in used}
    digests: dict[str, str] = {}
    for name, asset in kept.items():
        digest = hashlib.sha256(asset.data).hexdigest()
        digests[name] = digest
        if session.get(IssuePhoto, (issue_id, digest)) is None:
            session.add(
                IssuePhoto(
                    issue_id=issue_id,
                    digest=digest,
                    content_type=asset.content_type,
                    data=asset.data,
                )
            )
    version = IssueVersion(
        issue_id=issue_id,
        number=number,
        record=record_data(record),
        photos=digests,
        saved_by=saved_by,
        note=note,
        created_at=now,
    )
    session.add(version)
    session.flush()
    return SavedVersion(
        id=version.id,
        issue_id=issue_id,
        number=number,
        record=record,
        photos={name: Asset(name, asset.content_type, asset.data) for name, asset in kept.items()},
        saved_by=saved_by,
        note=note,
        created_at=now,
    )


def with_slug(session: Session, issue_id: int | None, record: Record) -> Record:
    """`record` with its web address: the one it names, if no other issue than
    `issue_id` (None: a new one) has it (else SlugTakenError), or one made from its date
    and title that none has. Holds the choice until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        # Two saves choosing one address at once: one waits, then sees the other's.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SLUG_LOCK})
    return address_for(session, issue_id, record)


def address_for(session: Session, issue_id: int | None, record: Record) -> Record:
    """As `with_slug`, for a look only (the editor's preview): nothing is held."""
    taken = _slugs_taken(session, issue_id)
    if record.slug:
        whose = taken.get(record.slug)
        if whose is not None:
            raise SlugTakenError(record.slug, whose)
        return record
    made = _generated(record)
    slug, number = made, 2
    while slug in taken:
        suffix = f"-{number}"
        slug = made[: MAX_SLUG_LENGTH - len(suffix)].rstrip("-") + suffix
        number += 1
    return record.model_copy(update={"slug": slug})


# pg_advisory_xact_lock's key for choosing issues' addresses (any number no other lock uses).
_SLUG_LOCK = 0x6E6C736C


def _generated(record: Record) -> str:
    made = record.model_copy(update={"slug": None}).issue_slug
    try:
        return check_slug(made)
    except ValueError:
        # A title whose letters fold into capitals (compatibility forms such as ㎒):
        # the address is then its date and a hash, as for a title without letters.
        digest = hashlib.sha256(record.title.encode()).hexdigest()[:8]
        return f"{record.date.isoformat()}-issue-{digest}"


def _slugs_taken(session: Session, issue_id: int | None) -> dict[str, str]:
    """Every web address another issue has or was sent under, with whose it is."""
    taken: dict[str, str] = {}
    latest = session.execute(
        select(StoredIssue.id, StoredIssue.title, IssueVersion.record)
        .join(
            IssueVersion,
            (IssueVersion.issue_id == StoredIssue.id) & (IssueVersion.number == StoredIssue.head),
        )
        .where(StoredIssue.id != (issue_id or 0))
    )
    for other_id, title, data in latest:
        slug = data.get("slug") or Record.model_validate(data).issue_slug
        taken[slug] = f"the address of issue {other_id}, {title!r}"
    # Sent from another issue's version: its readers' links go there. Campaigns sent from
    # a record file name no version; the same record imported keeps its address.
    sent = session.execute(
        select(Campaign.slug, Campaign.created_at, IssueVersion.issue_id)
        .join(IssueVersion, IssueVersion.id == Campaign.issue_version_id)
        .where(IssueVersion.issue_id != (issue_id or 0))
        .order_by(Campaign.id)
    )
    for slug, created_at, other_id in sent:
        taken.setdefault(
            slug,
            f"the address of a newsletter sent from issue {other_id} on {created_at:%Y-%m-%d}",
        )
    return taken


def get_version(session: Session, issue_id: int, number: int | None = None) -> SavedVersion:
    """Version `number` of the issue (default: the latest), photos included."""
    query = select(IssueVersion).where(IssueVersion.issue_id == issue_id)
    if number is None:
        query = query.order_by(IssueVersion.number.desc()).limit(1)
    else:
        query = query.where(IssueVersion.number == number)
    version = session.scalars(query).first()
    if version is None:
        raise UnknownIssueError(issue_id, number)
    return _saved(session, version)


def version_by_id(session: Session, version_id: int) -> SavedVersion:
    version = session.get(IssueVersion, version_id)
    if version is None:
        raise StoreError(f"there is no issue version {version_id}")
    return _saved(session, version)


def _saved(session: Session, version: IssueVersion) -> SavedVersion:
    digests: dict[str, str] = {str(k): str(v) for k, v in version.photos.items()}
    stored = {
        photo.digest: photo
        for photo in session.scalars(
            select(IssuePhoto).where(
                IssuePhoto.issue_id == version.issue_id,
                IssuePhoto.digest.in_(set(digests.values())),
            )
        )
    }
    return SavedVersion(
        id=version.id,
        issue_id=version.issue_id,
        number=version.number,
        record=Record.model_validate(version.record),
        photos={
            name: Asset(name, stored[digest].content_type, stored[digest].data)
            for name, digest in digests.items()
            if digest in stored
        },
        saved_by=version.saved_by,
        note=version.note,
        created_at=version.created_at,
    )


def list_issues(session: Session) -> list[IssueSummary]:
    """Every issue, the last edited first."""
    rows = session.execute(
        select(
            StoredIssue.id, StoredIssue.title, StoredIssue.head, StoredIssue.updated_at
        ).order_by(StoredIssue.updated_at.desc(), StoredIssue.id.desc())
    )
    return [IssueSummary(row.id, row.title, row.head, row.updated_at) for row in rows]


def list_versions(session: Session, issue_id: int) -> list[VersionSummary]:
    """The issue's versions, the latest first."""
    if session.get(StoredIssue, issue_id) is None:
        raise UnknownIssueError(issue_id)
    versions = session.scalars(
        select(IssueVersion)
        .where(IssueVersion.issue_id == issue_id)
        .order_by(IssueVersion.number.desc())
    )
    return [
        VersionSummary(
            v.id, v.number, str(v.record.get("title", "")), v.saved_by, v.note, v.created_at
        )
        for v in versions
    ]


def restore_version(
    session: Session, issue_id: int, number: int, based_on: int, *, saved_by: str | None = None
) -> SavedVersion:
    """A new latest version with the content of version `number`; the versions between
    stay, so a restore can itself be undone."""
    old = get_version(session, issue_id, number)
    return save_version(
        session,
        issue_id,
        based_on,
        old.record,
        old.photos,
        saved_by=saved_by,
        note=f"restored version {number}",
    )


def duplicate_issue(
    session: Session, issue_id: int, *, saved_by: str | None = None
) -> SavedVersion:
    """A new issue starting from the latest version of this one, titled as a copy."""
    latest = get_version(session, issue_id)
    title = f"Copy of {latest.record.title}"
    record = latest.record.model_copy(update={"title": title, "slug": None})
    return create_issue(
        session, record, latest.photos, saved_by=saved_by, note=f"copied from issue {issue_id}"
    )


def delete_issue(session: Session, issue_id: int) -> None:
    """The issue and all its versions and photos; campaigns sent from it stay."""
    if session.get(StoredIssue, issue_id) is None:
        raise UnknownIssueError(issue_id)
    # Explicit, not by cascade alone: SQLite enforces foreign keys only when asked to.
    session.execute(delete(IssuePhoto).where(IssuePhoto.issue_id == issue_id))
    session.execute(delete(IssueVersion).where(IssueVersion.issue_id == issue_id))
    session.execute(delete(StoredIssue).where(StoredIssue.id == issue_id))


def issue_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(StoredIssue)) or 0)
