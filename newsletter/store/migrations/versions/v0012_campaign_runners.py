"""Several runners on one campaign: a row per runner, and the runner each delivery is with.

The campaign's single lease (campaigns.lease_owner, lease_heartbeat) becomes one row per
runner in campaign_runners, so that workers on several machines can share a campaign;
deliveries.claimed_by says which runner a `sending` row is with, so that the rows of a
runner that died are settled without touching those of the live ones. The error storm is
counted on the campaign (failures_in_row), so that it counts across runners.
deliveries.handed_over_at records that the end of data was written
(newsletter.sending.journal), so that a message whose sender died between the point of no
return and the dot is sent again rather than lost.

Revision ID: 0012
Revises: 0011
Create Date: 2024-01-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from the models, as in the earlier migrations.
_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "campaign_runners",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("heartbeat", _TIMESTAMP, nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name="fk_campaign_runners_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "owner", name="pk_campaign_runners"),
    )
    # A lease held when the database was upgraded stays held, by the same runner.
    op.execute(
        "INSERT INTO campaign_runners (campaign_id, owner, heartbeat, shared) "
        "SELECT id, lease_owner, lease_heartbeat, false FROM campaigns "
        "WHERE lease_owner IS NOT NULL AND lease_heartbeat IS NOT NULL"
    )
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("lease_owner")
        batch.drop_column("lease_heartbeat")
        batch.add_column(
            sa.Column("failures_in_row", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch.add_column(sa.Column("last_failure", sa.Text(), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(255), nullable=True))
        batch.add_column(sa.Column("handed_over_at", _TIMESTAMP, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("handed_over_at")
        batch.drop_column("claimed_by")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("last_failure")
        batch.drop_column("failures_in_row")
        batch.add_column(sa.Column("lease_owner", sa.String(255), nullable=True))
        batch.add_column(sa.Column("lease_heartbeat", _TIMESTAMP, nullable=True))
    op.drop_table("campaign_runners")
