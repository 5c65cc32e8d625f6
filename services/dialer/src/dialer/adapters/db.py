"""The dialer's read tables (SQLAlchemy Core). The event store is the history; these tables
are the current state the API, the consumers and the dialing loop work on, updated in the
same transaction as the events they follow from."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, String, Table, UniqueConstraint

from common.db import BigIntId, JsonType, UTCDateTime, new_metadata

metadata = new_metadata()

campaigns = Table(
    "campaigns",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("list_ids", JsonType, nullable=False),
    Column("dial_mode", String(16), nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("retry_delay_s", Integer, nullable=False),
    Column("abandon_threshold_s", Float, nullable=False),
    Column("version", Integer, nullable=False),  # of the campaign's event stream
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
# The dialing loop scans running campaigns across tenants.
Index("ix_campaigns_state", campaigns.c.state)

hopper = Table(
    "hopper",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),  # FIFO order
    Column("tenant_id", String(64), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("list_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("phone_e164", String(32), nullable=False),
    Column("valid_until", UTCDateTime, nullable=False),
    Column("decision_id", String(64), nullable=False),
    Column("queued_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "campaign_id", "lead_id", name="uq_hopper_lead"),
)
Index("ix_hopper_campaign_order", hopper.c.tenant_id, hopper.c.campaign_id, hopper.c.id)
Index("ix_hopper_phone", hopper.c.tenant_id, hopper.c.phone_e164)
Index("ix_hopper_valid_until", hopper.c.valid_until)

dnc_entries = Table(
    "dnc_entries",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("phone_e164", String(32), primary_key=True),
    Column("list_id", String(100), primary_key=True),
    Column("added_at", UTCDateTime, nullable=False),
)

agents = Table(
    "agents",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("agent_id", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("campaign_ids", JsonType, nullable=False),
    Column("ready_since", UTCDateTime, nullable=True),
    # The call the agent is on per the agent service (on_call / wrap_up events).
    Column("call_id", String(64), nullable=True),
    # The call the dialer connected the agent to: set when routing, cleared when it ends.
    # A reserved agent is never offered another call, whatever its last reported state.
    Column("reserved_call_id", String(64), nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Agent-to-campaign membership, for indexed "ready agents of campaign X" queries.
agent_campaigns = Table(
    "agent_campaigns",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("agent_id", String(64), primary_key=True),
)

calls = Table(
    "calls",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("call_id", String(64), primary_key=True),
    Column("campaign_id", String(64), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("list_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("state", String(20), nullable=False),
    Column("version", Integer, nullable=False),  # of the call's event stream
    Column("dialed_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime, nullable=True),
    Column("connected_at", UTCDateTime, nullable=True),
    Column("ended_at", UTCDateTime, nullable=True),
    Column("ring_ms", BigInteger, nullable=True),
    Column("agent_id", String(64), nullable=True),
    Column("outcome", String(16), nullable=True),
)
Index("ix_calls_campaign_state", calls.c.tenant_id, calls.c.campaign_id, calls.c.state)
Index("ix_calls_state", calls.c.state)
