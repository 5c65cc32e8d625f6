"""Leads service tables: lead lists, leads, import jobs, campaigns projection.

Revision ID: leads_0001
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from common.db import JsonType, UTCDateTime

revision = "leads_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_lists",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "list_id", name="pk_lead_lists"),
    )
    op.create_table(
        "leads",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("phone_e164", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("candidate_zones", JsonType, nullable=False),
        sa.Column("attributes", JsonType, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("next_reason", sa.String(16), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("due_attempt", sa.Integer, nullable=True),
        sa.Column("last_call_id", sa.String(64), nullable=True),
        sa.Column("last_outcome", sa.String(32), nullable=True),
        sa.Column("last_disposition", sa.String(64), nullable=True),
        sa.Column("closed_reason", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("import_job_id", sa.String(64), nullable=False),
        sa.Column("source_position", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "lead_id", name="pk_leads"),
        sa.UniqueConstraint("tenant_id", "list_id", "phone_e164", name="uq_leads_list_phone"),
    )
    op.create_index("ix_leads_list_order", "leads", ["tenant_id", "list_id", "lead_id"])
    op.create_index("ix_leads_list_status", "leads",
                    ["tenant_id", "list_id", "status", "lead_id"])
    waiting = sa.text("next_attempt_at IS NOT NULL")
    op.create_index("ix_leads_waiting", "leads", ["tenant_id", "list_id", "next_attempt_at"],
                    postgresql_where=waiting, sqlite_where=waiting)
    in_flight = sa.text("status IN ('due', 'dialing')")
    op.create_index("ix_leads_in_flight", "leads", ["tenant_id", "campaign_id"],
                    postgresql_where=in_flight, sqlite_where=in_flight)
    op.create_table(
        "import_jobs",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("list_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("default_country", sa.String(2), nullable=True),
        sa.Column("payload", sa.LargeBinary, nullable=True),
        sa.Column("total_rows", sa.Integer, nullable=False),
        sa.Column("processed_rows", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("duplicate", sa.Integer, nullable=False),
        sa.Column("invalid", sa.Integer, nullable=False),
        sa.Column("errors", JsonType, nullable=False),
        sa.Column("errors_truncated", sa.Boolean, nullable=False),
        sa.Column("failure_reason", sa.String(500), nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "job_id", name="pk_import_jobs"),
    )
    pending = sa.text("status IN ('queued', 'running')")
    op.create_index("ix_import_jobs_pending", "import_jobs", ["created_at"],
                    postgresql_where=pending, sqlite_where=pending)
    op.create_table(
        "campaigns",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("list_ids", JsonType, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("retry_delay_s", sa.Integer, nullable=False),
        sa.Column("running_since", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "campaign_id", name="pk_campaigns"),
    )
    op.create_index("ix_campaigns_state", "campaigns", ["state"])


def downgrade() -> None:
    op.drop_table("campaigns")
    op.drop_table("import_jobs")
    op.drop_table("leads")
    op.drop_table("lead_lists")
