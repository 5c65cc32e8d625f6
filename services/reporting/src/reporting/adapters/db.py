"""Fact tables of the reporting service: the only source of every KPI.

- ``call_facts``: one row per call, merged from the ``calls`` events and the disposition.
- ``agent_intervals``: one row per agent state interval; ``start_ms``/``end_ms`` repeat
  the instants as epoch milliseconds so range clipping is plain integer arithmetic on
  both SQLite and PostgreSQL.
- ``agent_interval_campaigns``: which campaigns the agent was logged into during an
  interval (the query index for campaign occupancy; the list is also on the interval).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    PrimaryKeyConstraint,
    String,
    Table,
)

from common.db import JsonType, UTCDateTime, new_metadata

metadata = new_metadata()

call_facts = Table(
    "call_facts",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("call_id", String(100), nullable=False),
    # Every other column is nullable: a row may start from any of the call's events.
    Column("campaign_id", String(100)),
    Column("lead_id", String(100)),
    Column("dialed_at", UTCDateTime),
    Column("answered_at", UTCDateTime),
    Column("answered_by", String(16)),
    Column("connected_at", UTCDateTime),
    Column("agent_id", String(100)),
    Column("wait_ms", BigInteger),
    Column("abandoned", Boolean),
    Column("ended_at", UTCDateTime),
    Column("outcome", String(32)),
    Column("ring_ms", BigInteger),
    Column("talk_ms", BigInteger),
    Column("disposition", String(100)),
    Column("category", String(32)),
    Column("disposition_at", UTCDateTime),
    Column("acw_ms", BigInteger),
    PrimaryKeyConstraint("tenant_id", "call_id"),
)
Index("ix_call_facts_campaign", call_facts.c.tenant_id, call_facts.c.campaign_id,
      call_facts.c.dialed_at)
Index("ix_call_facts_agent", call_facts.c.tenant_id, call_facts.c.agent_id,
      call_facts.c.dialed_at)

agent_intervals = Table(
    "agent_intervals",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("interval_id", String(36), nullable=False),  # id of the event that opened it
    Column("agent_id", String(100), nullable=False),
    Column("session_id", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(100)),
    Column("campaign_ids", JsonType, nullable=False),
    Column("call_id", String(100)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("start_ms", BigInteger, nullable=False),
    Column("end_ms", BigInteger),
    PrimaryKeyConstraint("tenant_id", "interval_id"),
)
Index("ix_agent_intervals_agent", agent_intervals.c.tenant_id, agent_intervals.c.agent_id,
      agent_intervals.c.start_ms)
# The projection looks up each agent's open interval: keep that lookup O(agents).
Index("ix_agent_intervals_open", agent_intervals.c.tenant_id, agent_intervals.c.agent_id,
      sqlite_where=agent_intervals.c.ended_at.is_(None),
      postgresql_where=agent_intervals.c.ended_at.is_(None))

agent_interval_campaigns = Table(
    "agent_interval_campaigns",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("campaign_id", String(100), nullable=False),
    Column("interval_id", String(36), nullable=False),
    PrimaryKeyConstraint("tenant_id", "campaign_id", "interval_id"),
)
