"""The dialer's read tables (SQLAlchemy Core). The event store is the history; these tables
are the current state the API, the consumers and the dialing loop work on, updated in the
same transaction as the events they follow from."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    false,
)

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
    # dialer_0002: dial-mode settings (see domain.campaign.CampaignSettings)
    Column("caller_id", String(32), nullable=True),
    Column("product", String(100), nullable=True),
    Column("requires_consent", Boolean, nullable=False, server_default=false()),
    Column("max_lines_per_agent", Float, nullable=False, server_default="3.0"),
    Column("lines_per_agent", Float, nullable=False, server_default="2.0"),
    Column("ring_timeout_s", Float, nullable=False, server_default="25.0"),
    Column("amd_action", String(16), nullable=False, server_default="hang_up"),
    Column("amd_message", String(1000), nullable=True),
    Column("abandon_message", String(1000), nullable=True),
    Column("target_abandon_rate", Float, nullable=True),
    Column("amd_false_positive_rate", Float, nullable=False, server_default="0.0"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("lead_ordering", String(24), nullable=False, server_default="fifo"),
    Column("preview_timeout_s", Float, nullable=False, server_default="60.0"),
    Column("preview_timeout_action", String(8), nullable=False, server_default="skip"),
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

# Consent revocations (compliance topic), kept to refuse clearances decided before them.
consent_revocations = Table(
    "consent_revocations",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("consent_id", String(64), primary_key=True),
    Column("phone_e164", String(32), nullable=False),
    Column("campaign_id", String(64), nullable=True),  # null: every campaign
    Column("recorded_at", UTCDateTime, nullable=False),  # when compliance recorded it
)
Index("ix_consent_revocations_phone", consent_revocations.c.tenant_id,
      consent_revocations.c.phone_e164)

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
    # dialer_0002: the dialer instance following the call (recovery after a crash)
    Column("owner_id", String(64), nullable=True),
    # preview: the agent the call goes to on a live answer
    Column("routed_agent_id", String(64), nullable=True),
    # when the connected agent was ready again (end of talk + wrap-up: handle time)
    Column("released_at", UTCDateTime, nullable=True),
)
Index("ix_calls_campaign_state", calls.c.tenant_id, calls.c.campaign_id, calls.c.state)
Index("ix_calls_state", calls.c.state)
Index("ix_calls_campaign_answered", calls.c.tenant_id, calls.c.campaign_id, calls.c.answered_at)
Index("ix_calls_campaign_ended", calls.c.tenant_id, calls.c.campaign_id, calls.c.ended_at)
# dialer_0003: lines in use per process, a tenant's calls in flight, handle times
Index("ix_calls_owner_state", calls.c.owner_id, calls.c.state)
Index("ix_calls_tenant_state", calls.c.tenant_id, calls.c.state)
Index("ix_calls_campaign_released", calls.c.tenant_id, calls.c.campaign_id, calls.c.released_at)

# The abandon budget compliance set per campaign (AbandonBudgetSetV1, latest wins).
abandon_budgets = Table(
    "abandon_budgets",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("max_abandon_rate", Float, nullable=False),
    Column("window_s", Integer, nullable=False),
    Column("count_amd_misclassified", Boolean, nullable=False),
    Column("jurisdictions", JsonType, nullable=False),
    Column("policy_version", String(100), nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
)

# Live dialer processes: a call whose owner stopped heart-beating is recovered.
dialer_instances = Table(
    "dialer_instances",
    metadata,
    Column("instance_id", String(64), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    # partitions of the campaigns topic it paces (ops visibility; Kafka is the truth)
    Column("partitions", JsonType, nullable=True),
)

# Preview mode: a hopper lead shown to one agent, who dials or skips it.
previews = Table(
    "previews",
    metadata,
    Column("tenant_id", String(64), primary_key=True),
    Column("preview_id", String(64), primary_key=True),
    Column("campaign_id", String(64), nullable=False),
    Column("agent_id", String(64), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("list_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("phone_e164", String(32), nullable=False),
    Column("valid_until", UTCDateTime, nullable=False),
    Column("decision_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # reserved | dial_requested | dialed | skipped
    Column("reserved_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("call_id", String(64), nullable=True),
    Column("outcome", String(24), nullable=True),  # why it was skipped or not dialed
)
Index("ix_previews_state_expires", previews.c.state, previews.c.expires_at)
