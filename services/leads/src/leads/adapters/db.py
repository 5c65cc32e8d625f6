"""The leads service's tables (SQLAlchemy Core). Every table is keyed by tenant first.

``leads`` is the current state of each lead (the read model the scheduler and the
consumers work on); ``version`` is the version of the lead's event stream ("lead-…"), so
the next append uses it as ``expected_version``. Invariant: ``next_attempt_at`` is set
exactly when the lead waits to be scheduled (status ``new`` or ``retry``), which keeps
the scheduler's index small and its scan a range read.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from common.db import JsonType, UTCDateTime, new_metadata

metadata = new_metadata()

lead_lists = Table(
    "lead_lists",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("list_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "list_id", name="pk_lead_lists"),
)

leads = Table(
    "leads",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("list_id", String(64), nullable=False),
    Column("phone_e164", String(20), nullable=False),
    Column("country", String(2), nullable=False),
    Column("candidate_zones", JsonType, nullable=False),
    Column("attributes", JsonType, nullable=False),
    Column("status", String(24), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    Column("next_reason", String(16), nullable=False),
    Column("campaign_id", String(64), nullable=True),
    Column("due_attempt", Integer, nullable=True),
    Column("last_call_id", String(64), nullable=True),
    Column("last_outcome", String(32), nullable=True),
    Column("last_disposition", String(64), nullable=True),
    Column("closed_reason", String(200), nullable=True),
    Column("version", Integer, nullable=False),
    Column("import_job_id", String(64), nullable=False),
    Column("source_position", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "lead_id", name="pk_leads"),
    # Dedupe by number within a list (also the guard between two concurrent imports).
    UniqueConstraint("tenant_id", "list_id", "phone_e164", name="uq_leads_list_phone"),
)
# Keyset pagination of a list, with and without a status filter; counts by status.
Index("ix_leads_list_order", leads.c.tenant_id, leads.c.list_id, leads.c.lead_id)
Index("ix_leads_list_status", leads.c.tenant_id, leads.c.list_id, leads.c.status, leads.c.lead_id)
# The scheduler: leads waiting to be due, per list, oldest first.
Index(
    "ix_leads_waiting",
    leads.c.tenant_id, leads.c.list_id, leads.c.next_attempt_at,
    postgresql_where=leads.c.next_attempt_at.is_not(None),
    sqlite_where=leads.c.next_attempt_at.is_not(None),
)
# In-flight leads (due or dialing) per campaign, for the per-campaign cap.
Index(
    "ix_leads_in_flight",
    leads.c.tenant_id, leads.c.campaign_id,
    postgresql_where=leads.c.status.in_(("due", "dialing")),
    sqlite_where=leads.c.status.in_(("due", "dialing")),
)

import_jobs = Table(
    "import_jobs",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("job_id", String(64), nullable=False),
    Column("list_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("format", String(8), nullable=False),  # "csv" or "ndjson" (JSON imports)
    Column("default_country", String(2), nullable=True),
    # The uploaded rows, until the job ends (then cleared: it holds personal data).
    Column("payload", LargeBinary, nullable=True),
    Column("total_rows", Integer, nullable=False),
    # Rows handled so far: also the resume point after a crash.
    Column("processed_rows", Integer, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("duplicate", Integer, nullable=False),
    Column("invalid", Integer, nullable=False),
    Column("errors", JsonType, nullable=False),
    Column("errors_truncated", Boolean, nullable=False),
    Column("failure_reason", String(500), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    PrimaryKeyConstraint("tenant_id", "job_id", name="pk_import_jobs"),
)
Index(
    "ix_import_jobs_pending",
    import_jobs.c.created_at,
    postgresql_where=import_jobs.c.status.in_(("queued", "running")),
    sqlite_where=import_jobs.c.status.in_(("queued", "running")),
)

# Projection of the `campaigns` topic: what the scheduler and the retry rules need.
campaigns = Table(
    "campaigns",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("list_ids", JsonType, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("retry_delay_s", Integer, nullable=False),
    Column("running_since", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "campaign_id", name="pk_campaigns"),
)
Index("ix_campaigns_state", campaigns.c.state)
