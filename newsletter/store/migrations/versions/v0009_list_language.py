"""A list's language: the one its public pages and confirmation mail speak.

Revision ID: 0009
Revises: 0008
Create Date: 2024-01-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: the existing lists speak English, as their pages did.
    with op.batch_alter_table("lists") as batch:
        batch.add_column(sa.Column("language", sa.String(35), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("language")
