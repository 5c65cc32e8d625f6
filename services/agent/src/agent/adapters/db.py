"""Tables of the agent service (SQLAlchemy Core). Every one is keyed by tenant first.

- ``agents``: the current state of every agent, written in the transaction that appends
  to the agent's stream, with the stream ``version`` it reflects. Commands read it as the
  aggregate's snapshot (an agent's stream grows with every call; the row does not).
- ``agent_campaigns``: one row per (agent, campaign of its current/last session), so that
  "agents of campaign X" is an index range, not a JSON scan.
- ``dispositions``: one row per ``DispositionSubmittedV1`` (keyed by its place in the
  agent's stream), with the agent's notes (personal data: they stay in this database).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from common.db import JsonType, UTCDateTime, new_metadata

metadata = new_metadata()

ID = 100  # max length of agent, call, lead and campaign ids (chars)

agents = Table(
    "agents",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("agent_id", String(ID), nullable=False),
    Column("session_id", String(64), nullable=True),
    Column("state", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("since", UTCDateTime, nullable=True),
    Column("campaign_ids", JsonType, nullable=False),
    Column("call_id", String(ID), nullable=True),
    Column("lead_id", String(ID), nullable=True),
    Column("campaign_id", String(ID), nullable=True),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "agent_id"),
)
# GET /v1/agents?state=... pages through one tenant's agents in a state by agent_id.
Index("ix_agents_tenant_state", agents.c.tenant_id, agents.c.state, agents.c.agent_id)

agent_campaigns = Table(
    "agent_campaigns",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("campaign_id", String(ID), nullable=False),
    Column("agent_id", String(ID), nullable=False),
    PrimaryKeyConstraint("tenant_id", "campaign_id", "agent_id"),
)
# Replacing an agent's campaigns at login deletes by agent.
Index("ix_agent_campaigns_tenant_agent", agent_campaigns.c.tenant_id, agent_campaigns.c.agent_id)

dispositions = Table(
    "dispositions",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("agent_id", String(ID), nullable=False),
    Column("version", Integer, nullable=False),
    Column("call_id", String(ID), nullable=False),
    Column("session_id", String(64), nullable=False),
    Column("lead_id", String(ID), nullable=False),
    Column("campaign_id", String(ID), nullable=False),
    Column("disposition", String(64), nullable=False),
    Column("category", String(16), nullable=False),
    Column("callback_at", UTCDateTime, nullable=True),
    Column("notes", Text, nullable=True),
    Column("submitted_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "agent_id", "version"),
)
