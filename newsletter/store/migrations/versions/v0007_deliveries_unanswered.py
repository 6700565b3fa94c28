"""Deliveries whose end of data got no reply: sent again, and counted as may be duplicated.

Revision ID: 0007
Revises: 0006
Create Date: 2024-01-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default fills the existing rows; SQLite adds a NOT NULL column only with one.
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("unanswered", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    op.create_index(
        "ix_deliveries_unanswered",
        "deliveries",
        ["campaign_id"],
        sqlite_where=sa.text("unanswered > 0"),
        postgresql_where=sa.text("unanswered > 0"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_unanswered", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("unanswered")
