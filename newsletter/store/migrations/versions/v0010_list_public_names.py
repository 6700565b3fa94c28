"""Lists' public names, staff edits in the event trail, erased addresses kept as a hash.

Revision ID: 0010
Revises: 0009
Create Date: 2024-01-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the models, as in the earlier migrations.
_KINDS = (
    "subscribed",
    "imported",
    "unsubscribed",
    "resubscribed",
    "bounced",
    "complained",
    "suppressed",
    "soft_bounced",
)
_REASONS = ("unsubscribed", "bounced", "complained")
# A SHA-256 in hexadecimal.
_HASH_LENGTH = 64


def _any_of(column: str, *values: str) -> str:
    # ORs rather than IN (...), as in the earlier migrations.
    return " OR ".join(f"{column} = '{v}'" for v in values)


def upgrade() -> None:
    # Nullable, no default: a list without one shows its internal name, as before.
    with op.batch_alter_table("lists") as batch:
        batch.add_column(sa.Column("public_name", sa.String(200), nullable=True))
    # SQLite cannot alter a CHECK constraint: batch mode copies the table.
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_kind"), type_="check")
        batch.create_check_constraint("kind", sa.text(_any_of("kind", *_KINDS, "edited")))
    # An erased subscriber's address survives only as its hash, so email_key may be empty.
    with op.batch_alter_table("suppressions") as batch:
        batch.add_column(sa.Column("email_hash", sa.String(_HASH_LENGTH), nullable=True))
        batch.alter_column("email_key", existing_type=sa.String(320), nullable=True)
        batch.drop_constraint(op.f("ck_suppressions_reason"), type_="check")
        batch.create_check_constraint("reason", sa.text(_any_of("reason", *_REASONS, "erased")))
        batch.create_check_constraint(
            "address", sa.text("email_key IS NOT NULL OR email_hash IS NOT NULL")
        )
        batch.create_index("ix_suppressions_email_hash", ["email_hash"], unique=True)


def downgrade() -> None:
    # Erasures cannot be kept without their hash column: going back forgets them.
    op.execute("DELETE FROM suppressions WHERE email_key IS NULL OR reason = 'erased'")
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_index("ix_suppressions_email_hash")
        batch.drop_constraint(op.f("ck_suppressions_address"), type_="check")
        batch.drop_constraint(op.f("ck_suppressions_reason"), type_="check")
        batch.create_check_constraint("reason", sa.text(_any_of("reason", *_REASONS)))
        batch.alter_column("email_key", existing_type=sa.String(320), nullable=False)
        batch.drop_column("email_hash")
    op.execute("DELETE FROM events WHERE kind = 'edited'")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("ck_events_kind"), type_="check")
        batch.create_check_constraint("kind", sa.text(_any_of("kind", *_KINDS)))
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("public_name")
