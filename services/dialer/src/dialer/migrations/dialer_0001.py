"""Dialer tables: campaigns, hopper, DNC projection, agent projection, calls.

Revision ID: dialer_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.db import BigIntId, JsonType, UTCDateTime

revision = "dialer_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("list_ids", JsonType, nullable=False),
        sa.Column("dial_mode", sa.String(16), nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("retry_delay_s", sa.Integer, nullable=False),
        sa.Column("abandon_threshold_s", sa.Float, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", name="pk_campaigns"),
    )
    op.create_index("ix_campaigns_state", "campaigns", ["state"])

    op.create_table(
        "hopper",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("phone_e164", sa.String(32), nullable=False),
        sa.Column("valid_until", UTCDateTime, nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("queued_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("tenant_id", "campaign_id", "lead_id", name="uq_hopper_lead"),
    )
    op.create_index("ix_hopper_campaign_order", "hopper", ["tenant_id", "campaign_id", "id"])
    op.create_index("ix_hopper_phone", "hopper", ["tenant_id", "phone_e164"])
    op.create_index("ix_hopper_valid_until", "hopper", ["valid_until"])

    op.create_table(
        "dnc_entries",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("phone_e164", sa.String(32), nullable=False),
        sa.Column("list_id", sa.String(100), nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "phone_e164", "list_id", name="pk_dnc_entries"),
    )

    op.create_table(
        "agents",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("campaign_ids", JsonType, nullable=False),
        sa.Column("ready_since", UTCDateTime, nullable=True),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("reserved_call_id", sa.String(64), nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agent_id", name="pk_agents"),
    )
    op.create_table(
        "agent_campaigns",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", "agent_id", name="pk_agent_campaigns"),
    )

    op.create_table(
        "calls",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("dialed_at", UTCDateTime, nullable=False),
        sa.Column("answered_at", UTCDateTime, nullable=True),
        sa.Column("connected_at", UTCDateTime, nullable=True),
        sa.Column("ended_at", UTCDateTime, nullable=True),
        sa.Column("ring_ms", sa.BigInteger, nullable=True),
        sa.Column("agent_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "call_id", name="pk_calls"),
    )
    op.create_index("ix_calls_campaign_state", "calls", ["tenant_id", "campaign_id", "state"])
    op.create_index("ix_calls_state", "calls", ["state"])


def downgrade() -> None:
    for table in ("calls", "agent_campaigns", "agents", "dnc_entries", "hopper", "campaigns"):
        op.drop_table(table)
