"""Campaigns, their assets and deliveries.

Revision ID: 0002
Revises: 0001
Create Date: 2024-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the models: a migration must keep describing
# the schema as it was when written, whatever the models become.
_TIMESTAMP = sa.DateTime(timezone=True)


def _allowed(column: str, *values: str) -> sa.CheckConstraint:
    # ORs rather than IN (...): SQLite builds a temporary index for an IN list in a CHECK
    # on every row written.
    return sa.CheckConstraint(" OR ".join(f"{column} = '{v}'" for v in values), name=column)


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("list_name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("transport", sa.String(32), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("started_at", _TIMESTAMP, nullable=True),
        sa.Column("finished_at", _TIMESTAMP, nullable=True),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("slug", sa.String(200), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("preheader", sa.Text(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("images", sa.String(16), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("web_html", sa.Text(), nullable=False),
        sa.Column("print_html", sa.Text(), nullable=False),
        sa.Column("from_address", sa.Text(), nullable=False),
        sa.Column("reply_to", sa.Text(), nullable=True),
        sa.Column("return_path", sa.String(320), nullable=False),
        sa.Column("unsubscribe_mailto", sa.Text(), nullable=True),
        sa.Column("public_url", sa.Text(), nullable=False),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_heartbeat", _TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name="fk_campaigns_list_id_lists", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
        sa.UniqueConstraint("token", name="uq_campaigns_token"),
        _allowed("status", "sending", "paused", "cancelled", "done"),
    )
    op.create_table(
        "campaign_assets",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_campaign_assets_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "filename", name="pk_campaign_assets"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", _TIMESTAMP, nullable=True),
        sa.Column("committed_at", _TIMESTAMP, nullable=True),
        sa.Column("provider_id", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("hard_bounce", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_deliveries_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name="fk_deliveries_subscriber_id_subscribers",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint(
            "campaign_id", "subscriber_id", name="uq_deliveries_campaign_id_subscriber_id"
        ),
        _allowed("state", "pending", "sending", "sent", "failed", "skipped"),
    )
    op.create_index(
        "ix_deliveries_campaign_id_state_id", "deliveries", ["campaign_id", "state", "id"]
    )
    op.create_index(
        "ix_deliveries_hard_bounces",
        "deliveries",
        ["subscriber_id"],
        sqlite_where=sa.text("hard_bounce = 1"),
        postgresql_where=sa.text("hard_bounce"),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("campaign_assets")
    op.drop_table("campaigns")
