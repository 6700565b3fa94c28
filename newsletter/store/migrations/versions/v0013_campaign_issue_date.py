"""The day of the event each campaign's issue reports on, by which the archive dates it.

Campaigns created before are given the date their slug starts with, which is the record's
date unless the record chose its own slug; the others keep none, and the archive shows
the day they were sent.

Revision ID: 0013
Revises: 0012
Create Date: 2024-01-13
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DATED_SLUG = re.compile(r"^(\d{4}-\d{2}-\d{2})-")


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("issue_date", sa.Date(), nullable=True))
    campaigns = sa.table(
        "campaigns",
        sa.column("id", sa.Integer()),
        sa.column("slug", sa.String()),
        sa.column("issue_date", sa.Date()),
    )
    connection = op.get_bind()
    for campaign_id, slug in connection.execute(sa.select(campaigns.c.id, campaigns.c.slug)):
        day = _slug_date(slug)
        if day is not None:
            connection.execute(
                campaigns.update().where(campaigns.c.id == campaign_id).values(issue_date=day)
            )


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("issue_date")


def _slug_date(slug: str) -> dt.date | None:
    match = _DATED_SLUG.match(slug)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None
