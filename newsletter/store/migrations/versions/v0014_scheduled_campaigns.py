"""Scheduled sends: a campaign may wait, as `scheduled`, until campaigns.scheduled_at.

The schedule lives here rather than in the broker, so that it outlives any worker: every
`newsletter worker` polls for due campaigns and moves each to `sending`
(newsletter.sending.schedule). The status CHECK constraint is rebuilt to allow the new
value (batch mode: SQLite rebuilds the table).

Revision ID: 0014
Revises: 0013
Create Date: 2024-01-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the models, as in the earlier migrations.
_TIMESTAMP = sa.DateTime(timezone=True)
# The naming convention (newsletter.store.models) makes it ck_campaigns_status.
_CONSTRAINT = "status"
_BEFORE = ("sending", "paused", "cancelled", "done")
_AFTER = ("scheduled", *_BEFORE)


def _allowed(*values: str) -> str:
    # ORs rather than IN (...), as in 0002: SQLite builds a temporary index for an IN list
    # in a CHECK on every row written.
    return " OR ".join(f"status = '{v}'" for v in values)


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("scheduled_at", _TIMESTAMP, nullable=True))
        batch.drop_constraint(_CONSTRAINT, type_="check")
        batch.create_check_constraint(_CONSTRAINT, _allowed(*_AFTER))
    # The due ones are looked for every few seconds by every worker.
    op.create_index(
        "ix_campaigns_scheduled",
        "campaigns",
        ["scheduled_at"],
        sqlite_where=sa.text("status = 'scheduled'"),
        postgresql_where=sa.text("status = 'scheduled'"),
    )


def downgrade() -> None:
    op.drop_index("ix_campaigns_scheduled", table_name="campaigns")
    # A campaign still waiting cannot be described by the older schema: it is cancelled,
    # its deliveries left pending (nothing was sent).
    op.execute("UPDATE campaigns SET status = 'cancelled' WHERE status = 'scheduled'")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_constraint(_CONSTRAINT, type_="check")
        batch.create_check_constraint(_CONSTRAINT, _allowed(*_BEFORE))
        batch.drop_column("scheduled_at")
