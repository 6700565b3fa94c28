"""The subscriber store's tables.

Campaigns and deliveries join this schema in a later migration; nothing here anticipates
their columns beyond the integer primary keys they will reference.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from newsletter.store.types import UTCDateTime, json_type

# Stable constraint names, so migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EMAIL_LENGTH = 320
# A SHA-256 in hexadecimal: how an erased subscriber's address is kept.
EMAIL_HASH_LENGTH = 64
PUBLIC_NAME_LENGTH = 200
# RFC 5646 asks for at least 35 characters, enough for every tag in use.
LANGUAGE_TAG_LENGTH = 35


class MembershipStatus(StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    UNCONFIRMED = "unconfirmed"


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    # Erased for good at the subscriber's request: only the address's hash is left.
    ERASED = "erased"


class EventKind(StrEnum):
    SUBSCRIBED = "subscribed"
    IMPORTED = "imported"
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    SUPPRESSED = "suppressed"
    # A temporary delivery failure a provider reported: counted, never suppresses.
    SOFT_BOUNCED = "soft_bounced"
    # Staff changed the subscriber's name or attributes.
    EDITED = "edited"


def _enum(enum: type[StrEnum]) -> Enum:
    # A VARCHAR rather than a native PostgreSQL ENUM: adding a value later is then an
    # ordinary migration on both databases. Its CHECK constraint comes from _allowed().
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


def _allowed(column: str, enum: type[StrEnum]) -> CheckConstraint:
    # Spelled as a chain of ORs, not `IN (...)`: SQLite builds a temporary index for an
    # IN list in a CHECK on every row written, which cost 4 µs a row in the importer.
    return CheckConstraint(
        " OR ".join(f"{column} = '{member.value}'" for member in enum), name=column
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: json_type(),
    }


class Subscriber(Base):
    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # As given (after email-validator normalisation); used when mailing.
    email: Mapped[str] = mapped_column(String(EMAIL_LENGTH))
    # Lower-cased `email`: the case-insensitive identity of a subscriber.
    email_key: Mapped[str] = mapped_column(String(EMAIL_LENGTH), unique=True, index=True)
    name: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="subscriber", order_by="Membership.list_id"
    )


class MailingList(Base):
    __tablename__ = "lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The stable key the CLI and the campaigns use; staff may rename it.
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # What subscribers see on the public pages; None shows `name`.
    public_name: Mapped[str | None] = mapped_column(String(PUBLIC_NAME_LENGTH), default=None)
    description: Mapped[str] = mapped_column(Text, default="")
    # BCP 47, as records name theirs: what the list's public pages and mails speak.
    # None for English.
    language: Mapped[str | None] = mapped_column(String(LANGUAGE_TAG_LENGTH), default=None)
    created_at: Mapped[datetime]

    @property
    def shown_name(self) -> str:
        """The name the public pages and mails show."""
        return self.public_name or self.name


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        # List first: the sender reads one list in subscriber order straight off this key.
        PrimaryKeyConstraint("list_id", "subscriber_id"),
        Index(None, "subscriber_id"),
        _allowed("status", MembershipStatus),
        # Clustered on the key in SQLite: one B-tree fewer to write per membership.
        {"sqlite_with_rowid": False},
    )

    list_id: Mapped[int] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    status: Mapped[MembershipStatus] = mapped_column(_enum(MembershipStatus))
    source: Mapped[str] = mapped_column(String(100))
    # Signed links carry this; resubscribing bumps it so links from before stop working.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    subscriber: Mapped[Subscriber] = relationship(back_populates="memberships")
    mailing_list: Mapped[MailingList] = relationship()


class Suppression(Base):
    """An address that is never mailed again, whatever list it is on."""

    __tablename__ = "suppressions"
    __table_args__ = (
        _allowed("reason", SuppressionReason),
        CheckConstraint("email_key IS NOT NULL OR email_hash IS NOT NULL", name="address"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None once the subscriber is erased: `email_hash` alone then stands for the address.
    email_key: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH), unique=True, index=True)
    email_hash: Mapped[str | None] = mapped_column(
        String(EMAIL_HASH_LENGTH), unique=True, index=True
    )
    reason: Mapped[SuppressionReason] = mapped_column(_enum(SuppressionReason))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class Event(Base):
    """The audit trail: what happened to a subscription, when, how and from where."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "subscriber_id", "at"), _allowed("kind", EventKind))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE")
    )
    list_id: Mapped[int | None] = mapped_column(ForeignKey("lists.id", ondelete="SET NULL"))
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind))
    at: Mapped[datetime]
    # How it happened: "import", "cli", "web", "one-click", "webhook:…".
    source: Mapped[str] = mapped_column(String(100))
    # From where: a file and line, an IP address, a provider's message.
    detail: Mapped[str | None] = mapped_column(Text)


class ImportState(StrEnum):
    # Rows staged, nothing visible; rolled back if its owner dies or gives up.
    RUNNING = "running"
    # The switch happened: its memberships are visible; events and updates follow.
    COMMITTED = "committed"


class ImportRowKind(IntEnum):
    NEW = 1  # a subscriber this import created, joining the list
    JOIN = 2  # an existing subscriber, joining the list
    MEMBER = 3  # already on the list: only its name and attributes may change


class Import(Base):
    """A CSV import in progress (one at a time): what a crash leaves behind is found here.

    `slot` is always 1 and unique, so a second import cannot start while one is running or
    still finishing; the owner renews `lease_until` with every chunk it writes.
    """

    __tablename__ = "imports"
    __table_args__ = (_allowed("state", ImportState),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, unique=True, default=1)
    list_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[ImportState] = mapped_column(_enum(ImportState))
    origin: Mapped[str] = mapped_column(Text)  # the file name, for event details
    owner: Mapped[str] = mapped_column(String(300))  # host:pid
    # The import's one timestamp (created_at of what it adds), and when its lease ends.
    started_at: Mapped[datetime]
    lease_until: Mapped[datetime]


class ImportRow(Base):
    """One subscriber an import touched: its line (for duplicates) and what it changes."""

    __tablename__ = "import_rows"
    __table_args__ = (
        PrimaryKeyConstraint("import_id", "subscriber_id"),
        {"sqlite_with_rowid": False},
    )

    # No foreign keys: rows are written and removed in bulk, and the import's own bookkeeping
    # decides what is kept (an index per key would cost more than the checks give).
    import_id: Mapped[int] = mapped_column(Integer)
    subscriber_id: Mapped[int] = mapped_column(Integer)
    line: Mapped[int] = mapped_column(Integer)
    kind: Mapped[int] = mapped_column(SmallInteger)
    # The subscriber's name and attributes after the import; None where nothing changes.
    name: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any] | None] = mapped_column()
