"""Subscribers, lists, memberships, suppressions and the event trail.

Revision ID: 0001
Revises:
Create Date: 2024-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the models: a migration must keep describing
# the schema as it was when written, whatever the models become.
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_TIMESTAMP = sa.DateTime(timezone=True)


def _allowed(column: str, *values: str) -> sa.CheckConstraint:
    # ORs rather than IN (...): SQLite builds a temporary index for an IN list in a CHECK
    # on every row written (4 µs a row).
    return sa.CheckConstraint(" OR ".join(f"{column} = '{v}'" for v in values), name=column)


def upgrade() -> None:
    op.create_table(
        "lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lists"),
        sa.UniqueConstraint("name", name="uq_lists_name"),
    )
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("attributes", _JSON, nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
    )
    op.create_index("ix_subscribers_email_key", "subscribers", ["email_key"], unique=True)
    op.create_table(
        "memberships",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name="fk_memberships_list_id_lists", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_memberships_subscriber_id_subscribers",
            ondelete="CASCADE",
        ),
        # List first: the sender's query (one list, in subscriber-id order) reads this key.
        sa.PrimaryKeyConstraint("list_id", "subscriber_id", name="pk_memberships"),
        _allowed("status", "active", "unsubscribed", "unconfirmed"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_memberships_subscriber_id", "memberships", ["subscriber_id"])
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_suppressions"),
        _allowed("reason", "unsubscribed", "bounced", "complained"),
    )
    op.create_index("ix_suppressions_email_key", "suppressions", ["email_key"], unique=True)
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", _TIMESTAMP, nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_events_subscriber_id_subscribers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name="fk_events_list_id_lists", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        _allowed(
            "kind",
            "subscribed",
            "imported",
            "unsubscribed",
            "resubscribed",
            "bounced",
            "complained",
            "suppressed",
        ),
    )
    op.create_index("ix_events_subscriber_id_at", "events", ["subscriber_id", "at"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("suppressions")
    op.drop_table("memberships")
    op.drop_table("subscribers")
    op.drop_table("lists")
