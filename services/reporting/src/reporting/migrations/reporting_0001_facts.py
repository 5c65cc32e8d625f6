"""Reporting fact tables: call facts, agent state intervals and their campaigns.

Revision ID: reporting_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.db import JsonType, UTCDateTime

revision = "reporting_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_facts",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("campaign_id", sa.String(100)),
        sa.Column("lead_id", sa.String(100)),
        sa.Column("dialed_at", UTCDateTime),
        sa.Column("answered_at", UTCDateTime),
        sa.Column("answered_by", sa.String(16)),
        sa.Column("connected_at", UTCDateTime),
        sa.Column("agent_id", sa.String(100)),
        sa.Column("wait_ms", sa.BigInteger),
        sa.Column("abandoned", sa.Boolean),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("outcome", sa.String(32)),
        sa.Column("ring_ms", sa.BigInteger),
        sa.Column("talk_ms", sa.BigInteger),
        sa.Column("disposition", sa.String(100)),
        sa.Column("category", sa.String(32)),
        sa.Column("disposition_at", UTCDateTime),
        sa.Column("acw_ms", sa.BigInteger),
        sa.PrimaryKeyConstraint("tenant_id", "call_id", name="pk_call_facts"),
    )
    op.create_index("ix_call_facts_campaign", "call_facts",
                    ["tenant_id", "campaign_id", "dialed_at"])
    op.create_index("ix_call_facts_agent", "call_facts", ["tenant_id", "agent_id", "dialed_at"])

    op.create_table(
        "agent_intervals",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("interval_id", sa.String(36), nullable=False),
        sa.Column("agent_id", sa.String(100), nullable=False),
        sa.Column("session_id", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(100)),
        sa.Column("campaign_ids", JsonType, nullable=False),
        sa.Column("call_id", sa.String(100)),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger),
        sa.PrimaryKeyConstraint("tenant_id", "interval_id", name="pk_agent_intervals"),
    )
    op.create_index("ix_agent_intervals_agent", "agent_intervals",
                    ["tenant_id", "agent_id", "start_ms"])
    open_only = sa.text("ended_at IS NULL")
    op.create_index("ix_agent_intervals_open", "agent_intervals", ["tenant_id", "agent_id"],
                    sqlite_where=open_only, postgresql_where=open_only)

    op.create_table(
        "agent_interval_campaigns",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(100), nullable=False),
        sa.Column("interval_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", "interval_id",
                                name="pk_agent_interval_campaigns"),
    )


def downgrade() -> None:
    op.drop_table("agent_interval_campaigns")
    op.drop_index("ix_agent_intervals_open", "agent_intervals")
    op.drop_index("ix_agent_intervals_agent", "agent_intervals")
    op.drop_table("agent_intervals")
    op.drop_index("ix_call_facts_agent", "call_facts")
    op.drop_index("ix_call_facts_campaign", "call_facts")
    op.drop_table("call_facts")
