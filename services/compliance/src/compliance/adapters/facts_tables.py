"""Tables of the facts compliance learns from other services' events and from tenants.

* ``campaign_facts``: the latest ``campaign.state_changed`` of each campaign (caller ID,
  product, consent requirement).
* ``campaign_budgets``: the abandon-rate budget last published per campaign and the
  jurisdictions screening has seen the campaign dial into.
* ``consents``: read model of ``consent_recorded`` / ``consent_revoked``.
* ``call_attempts``: one row per dialed call (``calls`` topic), its number resolved from
  the lead's decisions, its outcome merged from the call's events.
* ``refusals``: one row per refusal disposition (``agents`` topic).
* ``facts_watermarks``: per consumer group, the last instant its stored offsets had
  reached every partition end (``caught_up_at``); screening fails closed past a lag.

Product and subject are not copied onto attempts and refusals: screening joins
``campaign_facts`` so a campaign event that arrives late still applies.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import JsonType, UTCDateTime
from compliance.adapters.db import metadata

campaign_facts = Table(
    "campaign_facts",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("caller_id", String(16), nullable=True),
    Column("product", String(100), nullable=True),
    Column("requires_consent", Boolean, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "campaign_id"),
)

campaign_budgets = Table(
    "campaign_budgets",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    # Jurisdictions screening saw the campaign dial into; empty: none yet (all packs apply).
    Column("seen_jurisdictions", JsonType, nullable=False),
    Column("max_abandon_rate", Float, nullable=False),
    Column("window_s", Integer, nullable=False),
    Column("count_amd_misclassified", Boolean, nullable=False),
    Column("policy_version", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    Column("published_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "campaign_id"),
)

consents = Table(
    "consents",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("consent_id", String(64), nullable=False),
    Column("phone_e164", String(16), nullable=False),
    Column("campaign_id", String(64), nullable=True),
    Column("product", String(100), nullable=True),
    Column("granted_at", UTCDateTime, nullable=False),
    Column("source", String(64), nullable=False),
    Column("evidence", Text, nullable=True),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoke_reason", Text, nullable=True),
    PrimaryKeyConstraint("tenant_id", "consent_id"),
)
Index("ix_consents_phone", consents.c.tenant_id, consents.c.phone_e164)

call_attempts = Table(
    "call_attempts",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("call_id", String(64), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("phone_e164", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # answered / no_answer / busy / failed / abandoned / machine; null while in progress
    Column("outcome", String(16), nullable=True),
    PrimaryKeyConstraint("tenant_id", "call_id"),
)
Index("ix_call_attempts_phone", call_attempts.c.tenant_id, call_attempts.c.phone_e164,
      call_attempts.c.at)

refusals = Table(
    "refusals",
    metadata,
    Column("tenant_id", String(64), nullable=False),
    Column("call_id", String(64), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("phone_e164", String(16), nullable=False),
    Column("disposition", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "call_id"),
)
Index("ix_refusals_phone", refusals.c.tenant_id, refusals.c.phone_e164)

facts_watermarks = Table(
    "facts_watermarks",
    metadata,
    Column("group_id", String(200), nullable=False),
    # Every event published before this instant is in the facts tables; null: not yet.
    Column("caught_up_at", UTCDateTime, nullable=True),
    Column("checked_at", UTCDateTime, nullable=False),
    Column("lag", BigInteger, nullable=False),  # records behind at checked_at
    PrimaryKeyConstraint("group_id"),
)


def dialect_insert(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The session dialect's INSERT, which supports ``ON CONFLICT`` (upserts, replays)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")
