"""Dial modes: campaign settings, abandon budgets, call owner/routing/release, dialer
instances (ownership recovery) and previews.

Revision ID: dialer_0002
Revises: dialer_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.db import JsonType, UTCDateTime

revision = "dialer_0002"
down_revision = "dialer_0001"
branch_labels = None
depends_on = None


def _campaign_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("caller_id", sa.String(32), nullable=True),
        sa.Column("product", sa.String(100), nullable=True),
        sa.Column("requires_consent", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("max_lines_per_agent", sa.Float, nullable=False, server_default="3.0"),
        sa.Column("lines_per_agent", sa.Float, nullable=False, server_default="2.0"),
        sa.Column("ring_timeout_s", sa.Float, nullable=False, server_default="25.0"),
        sa.Column("amd_action", sa.String(16), nullable=False, server_default="hang_up"),
        sa.Column("amd_message", sa.String(1000), nullable=True),
        sa.Column("abandon_message", sa.String(1000), nullable=True),
        sa.Column("target_abandon_rate", sa.Float, nullable=True),
        sa.Column("amd_false_positive_rate", sa.Float, nullable=False, server_default="0.0"),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lead_ordering", sa.String(24), nullable=False, server_default="fifo"),
        sa.Column("preview_timeout_s", sa.Float, nullable=False, server_default="60.0"),
        sa.Column("preview_timeout_action", sa.String(8), nullable=False, server_default="skip"),
    )


def _call_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("owner_id", sa.String(64), nullable=True),
        sa.Column("routed_agent_id", sa.String(64), nullable=True),
        sa.Column("released_at", UTCDateTime, nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        for column in _campaign_columns():
            batch.add_column(column)
    with op.batch_alter_table("calls") as batch:
        for column in _call_columns():
            batch.add_column(column)
    op.create_index("ix_calls_campaign_answered", "calls",
                    ["tenant_id", "campaign_id", "answered_at"])
    op.create_index("ix_calls_campaign_ended", "calls", ["tenant_id", "campaign_id", "ended_at"])

    op.create_table(
        "abandon_budgets",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("max_abandon_rate", sa.Float, nullable=False),
        sa.Column("window_s", sa.Integer, nullable=False),
        sa.Column("count_amd_misclassified", sa.Boolean, nullable=False),
        sa.Column("jurisdictions", JsonType, nullable=False),
        sa.Column("policy_version", sa.String(100), nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", name="pk_abandon_budgets"),
    )
    op.create_table(
        "dialer_instances",
        sa.Column("instance_id", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.Column("partitions", JsonType, nullable=True),
        sa.PrimaryKeyConstraint("instance_id", name="pk_dialer_instances"),
    )
    op.create_table(
        "previews",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("preview_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("phone_e164", sa.String(32), nullable=False),
        sa.Column("valid_until", UTCDateTime, nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reserved_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("call_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(24), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "preview_id", name="pk_previews"),
    )
    op.create_index("ix_previews_state_expires", "previews", ["state", "expires_at"])


def downgrade() -> None:
    op.drop_table("previews")
    op.drop_table("dialer_instances")
    op.drop_table("abandon_budgets")
    op.drop_index("ix_calls_campaign_ended", "calls")
    op.drop_index("ix_calls_campaign_answered", "calls")
    with op.batch_alter_table("calls") as batch:
        for column in _call_columns():
            batch.drop_column(column.name)
    with op.batch_alter_table("campaigns") as batch:
        for column in _campaign_columns():
            batch.drop_column(column.name)
