"""Erasure keeps a campaign's figures: a delivery outlives its subscriber, anonymised.

deliveries.subscriber_id becomes nullable, its foreign key ON DELETE SET NULL rather than
CASCADE, so that erasing a subscriber (newsletter.store.erasure) can keep the rows of what
was sent, with the address and name blanked, and the campaigns' sent, failed and skipped
counts stay as they were. Batch mode: SQLite rebuilds the table.

Revision ID: 0015
Revises: 0014
Create Date: 2024-01-15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The naming convention (newsletter.store.models) gives the foreign key this name.
_FOREIGN_KEY = "fk_deliveries_subscriber_id_subscribers"


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(_FOREIGN_KEY, type_="foreignkey")
        batch.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=True)
        batch.create_foreign_key(
            _FOREIGN_KEY, "subscribers", ["subscriber_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    # The rows of erased subscribers had no place before: they go, as erasure did then.
    op.execute("DELETE FROM deliveries WHERE subscriber_id IS NULL")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(_FOREIGN_KEY, type_="foreignkey")
        batch.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key(
            _FOREIGN_KEY, "subscribers", ["subscriber_id"], ["id"], ondelete="CASCADE"
        )
