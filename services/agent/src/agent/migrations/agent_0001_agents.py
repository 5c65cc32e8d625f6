"""Agent service tables: agents (snapshot of each agent), agent_campaigns, dispositions.

Revision ID: agent_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.db import JsonType, UTCDateTime

revision = "agent_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(100), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("since", UTCDateTime, nullable=True),
        sa.Column("campaign_ids", JsonType, nullable=False),
        sa.Column("call_id", sa.String(100), nullable=True),
        sa.Column("lead_id", sa.String(100), nullable=True),
        sa.Column("campaign_id", sa.String(100), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agent_id", name="pk_agents"),
    )
    op.create_index("ix_agents_tenant_state", "agents", ["tenant_id", "state", "agent_id"])
    op.create_table(
        "agent_campaigns",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(100), nullable=False),
        sa.Column("agent_id", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", "agent_id",
                                name="pk_agent_campaigns"),
    )
    op.create_index("ix_agent_campaigns_tenant_agent", "agent_campaigns",
                    ["tenant_id", "agent_id"])
    op.create_table(
        "dispositions",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("call_id", sa.String(100), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("lead_id", sa.String(100), nullable=False),
        sa.Column("campaign_id", sa.String(100), nullable=False),
        sa.Column("disposition", sa.String(64), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("callback_at", UTCDateTime, nullable=True),
        sa.Column("notes", sa.Text, nullable=True),
        sa.Column("submitted_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agent_id", "version", name="pk_dispositions"),
    )


def downgrade() -> None:
    op.drop_table("dispositions")
    op.drop_index("ix_agent_campaigns_tenant_agent", table_name="agent_campaigns")
    op.drop_table("agent_campaigns")
    op.drop_index("ix_agents_tenant_state", table_name="agents")
    op.drop_table("agents")
