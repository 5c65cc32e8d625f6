"""The watermark of the compliance-facts consumer (``facts_watermarks``): screening fails
closed (``facts.stale``) when the facts were last complete too long ago.

Revision ID: compliance_0004
Revises: compliance_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.db import UTCDateTime

revision = "compliance_0004"
down_revision = "compliance_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facts_watermarks",
        sa.Column("group_id", sa.String(200), nullable=False),
        sa.Column("caught_up_at", UTCDateTime, nullable=True),
        sa.Column("checked_at", UTCDateTime, nullable=False),
        sa.Column("lag", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("group_id", name="pk_facts_watermarks"),
    )


def downgrade() -> None:
    op.drop_table("facts_watermarks")
