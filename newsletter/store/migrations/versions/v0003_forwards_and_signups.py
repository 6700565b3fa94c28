"""Forwards to a friend and sign-up requests (the web side's send-once and rate limits).

Revision ID: 0003
Revises: 0002
Create Date: 2024-01-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the models: a migration must keep describing
# the schema as it was when written, whatever the models become.
_TIMESTAMP = sa.DateTime(timezone=True)


def _allowed(column: str, *values: str) -> sa.CheckConstraint:
    # ORs rather than IN (...), as in the earlier migrations.
    return sa.CheckConstraint(" OR ".join(f"{column} = '{v}'" for v in values), name=column)


def upgrade() -> None:
    op.create_table(
        "forwards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("friend_email", sa.String(320), nullable=False),
        sa.Column("friend_key", sa.String(320), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_forwards_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_forwards_subscriber_id_subscribers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_forwards"),
        sa.UniqueConstraint(
            "campaign_id",
            "subscriber_id",
            "friend_key",
            name="uq_forwards_campaign_id_subscriber_id_friend_key",
        ),
        _allowed("state", "sending", "sent", "withheld"),
    )
    op.create_index(
        "ix_forwards_subscriber_id_created_at", "forwards", ["subscriber_id", "created_at"]
    )
    op.create_index("ix_forwards_ip_created_at", "forwards", ["ip", "created_at"])
    op.create_table(
        "signup_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("mailed", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name="fk_signup_requests_list_id_lists",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_signup_requests"),
    )
    op.create_index("ix_signup_requests_ip_created_at", "signup_requests", ["ip", "created_at"])
    op.create_index(
        "ix_signup_requests_email_key_created_at",
        "signup_requests",
        ["email_key", "created_at"],
    )


def downgrade() -> None:
    op.drop_table("signup_requests")
    op.drop_table("forwards")
