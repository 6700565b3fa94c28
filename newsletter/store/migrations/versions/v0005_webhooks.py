"""Provider webhooks: the events acted on, and soft bounces in the event trail.

Revision ID: 0005
Revises: 0004
Create Date: 2024-01-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the models, as in the earlier migrations.
_TIMESTAMP = sa.DateTime(timezone=True)
_KINDS = (
    "subscribed",
    "imported",
    "unsubscribed",
    "resubscribed",
    "bounced",
    "complained",
    "suppressed",
)


def _kinds(*values: str) -> str:
    # ORs rather than IN (...), as in the earlier migrations.
    return " OR ".join(f"kind = '{v}'" for v in values)


def upgrade() -> None:
    op.create_table(
        "webhook_receipts",
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("received_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("provider", "event_id", name="pk_webhook_receipts"),
    )
    # SQLite cannot alter a CHECK constraint: batch mode copies the table.
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_kind"), type_="check")
        batch.create_check_constraint("kind", sa.text(_kinds(*_KINDS, "soft_bounced")))


def downgrade() -> None:
    op.execute("DELETE FROM events WHERE kind = 'soft_bounced'")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_kind"), type_="check")
        batch.create_check_constraint("kind", sa.text(_kinds(*_KINDS)))
    op.drop_table("webhook_receipts")
