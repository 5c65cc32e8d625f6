"""Compliance facts from events: campaigns, abandon budgets, consents, call attempts,
refusals (``compliance.adapters.facts_tables``).

Revision ID: compliance_0003
Revises: compliance_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.db import JsonType, UTCDateTime

revision = "compliance_0003"
down_revision = "compliance_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_facts",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("caller_id", sa.String(16), nullable=True),
        sa.Column("product", sa.String(100), nullable=True),
        sa.Column("requires_consent", sa.Boolean, nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", name="pk_campaign_facts"),
    )
    op.create_table(
        "campaign_budgets",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("seen_jurisdictions", JsonType, nullable=False),
        sa.Column("max_abandon_rate", sa.Float, nullable=False),
        sa.Column("window_s", sa.Integer, nullable=False),
        sa.Column("count_amd_misclassified", sa.Boolean, nullable=False),
        sa.Column("policy_version", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", name="pk_campaign_budgets"),
    )
    op.create_table(
        "consents",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("consent_id", sa.String(64), nullable=False),
        sa.Column("phone_e164", sa.String(16), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("product", sa.String(100), nullable=True),
        sa.Column("granted_at", UTCDateTime, nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("evidence", sa.Text, nullable=True),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("revoke_reason", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "consent_id", name="pk_consents"),
    )
    op.create_index("ix_consents_phone", "consents", ["tenant_id", "phone_e164"])
    op.create_table(
        "call_attempts",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("phone_e164", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "call_id", name="pk_call_attempts"),
    )
    op.create_index("ix_call_attempts_phone", "call_attempts", ["tenant_id", "phone_e164", "at"])
    op.create_table(
        "refusals",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("phone_e164", sa.String(16), nullable=False),
        sa.Column("disposition", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "call_id", name="pk_refusals"),
    )
    op.create_index("ix_refusals_phone", "refusals", ["tenant_id", "phone_e164"])


def downgrade() -> None:
    for table in ("refusals", "call_attempts", "consents", "campaign_budgets", "campaign_facts"):
        op.drop_table(table)
