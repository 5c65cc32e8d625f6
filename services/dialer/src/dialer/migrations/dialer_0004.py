"""Consent revocations: the dialer pulls the number's cleared leads from the hopper and
refuses clearances decided before a revocation it has seen.

Revision ID: dialer_0004
Revises: dialer_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.db import UTCDateTime

revision = "dialer_0004"
down_revision = "dialer_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_revocations",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("consent_id", sa.String(64), primary_key=True),
        sa.Column("phone_e164", sa.String(32), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_consent_revocations_phone", "consent_revocations",
                    ["tenant_id", "phone_e164"])


def downgrade() -> None:
    op.drop_index("ix_consent_revocations_phone", "consent_revocations")
    op.drop_table("consent_revocations")
