"""Compliance tables: DNC lists and entries, decision records.

Revision ID: compliance_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.db import JsonType, UTCDateTime

revision = "compliance_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dnc_lists",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("list_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "list_id", name="pk_dnc_lists"),
    )
    op.create_table(
        "dnc_entries",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("list_id", sa.String(100), nullable=False),
        sa.Column("phone_e164", sa.String(16), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.Column("removed_at", UTCDateTime, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "list_id", "phone_e164", name="pk_dnc_entries"),
    )
    op.create_index("ix_dnc_entries_changes", "dnc_entries", ["tenant_id", "list_id", "version"])
    op.create_table(
        "decisions",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("phone_e164", sa.Text, nullable=False),
        sa.Column("payload", JsonType, nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "decision_id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_lead", "decisions", ["tenant_id", "lead_id", "decided_at"])


def downgrade() -> None:
    for table in ("decisions", "dnc_entries", "dnc_lists"):
        op.drop_table(table)
