"""Issues written in the staff area, every saved version kept; campaigns name theirs.

Revision ID: 0011
Revises: 0010
Create Date: 2024-01-11
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the models, as in the earlier migrations.
_TIMESTAMP = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("head", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_issues"),
    )
    op.create_table(
        "issue_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("record", _JSON, nullable=False),
        sa.Column("photos", _JSON, nullable=False),
        sa.Column("saved_by", sa.String(320), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name="fk_issue_versions_issue_id_issues",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_issue_versions"),
        sa.UniqueConstraint("issue_id", "number", name="uq_issue_versions_issue_id_number"),
    )
    op.create_table(
        "issue_photos",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name="fk_issue_photos_issue_id_issues", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("issue_id", "digest", name="pk_issue_photos"),
    )
    # Nullable: campaigns sent from a record file, and those from before, name no version.
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("issue_version_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_campaigns_issue_version_id_issue_versions",
            "issue_versions",
            ["issue_version_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_constraint("fk_campaigns_issue_version_id_issue_versions", type_="foreignkey")
        batch.drop_column("issue_version_id")
    op.drop_table("issue_photos")
    op.drop_table("issue_versions")
    op.drop_table("issues")
