"""Compliance tables (SQLAlchemy Core): DNC entries and list versions, decision records.

``dnc_entries`` is the source of truth of the tenant DNC lists. A removed entry keeps its
row with ``removed_at`` set, and every add/remove stamps the row with the list's new
``version`` (``dnc_lists``), so a process can catch its in-memory index up by reading
only the rows changed since the version it holds. ``decisions`` is the read model of
``compliance.decided`` ("why is this lead not dialable").
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from common.db import JsonType, UTCDateTime, new_metadata

metadata = new_metadata()

dnc_lists = Table(
    "dnc_lists",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("list_id", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "list_id"),
)

dnc_entries = Table(
    "dnc_entries",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("list_id", String(100), nullable=False),
    Column("phone_e164", String(16), nullable=False),
    Column("source", String(32), nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
    Column("removed_at", UTCDateTime, nullable=True),
    Column("version", Integer, nullable=False),
    # The primary key serves lookups and the keyset pagination (phone order).
    PrimaryKeyConstraint("tenant_id", "list_id", "phone_e164"),
)
Index("ix_dnc_entries_changes", dnc_entries.c.tenant_id, dnc_entries.c.list_id,
      dnc_entries.c.version)

decisions = Table(
    "decisions",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("decision_id", String(36), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("list_id", String(64), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    # As received: an invalid number is still recorded (blocked), whatever its length.
    Column("phone_e164", Text, nullable=False),
    Column("payload", JsonType, nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "decision_id"),
)
Index("ix_decisions_lead", decisions.c.tenant_id, decisions.c.lead_id, decisions.c.decided_at)

# Register the facts tables on ``metadata`` (they import it from here).
from compliance.adapters import facts_tables  # noqa: E402, F401
