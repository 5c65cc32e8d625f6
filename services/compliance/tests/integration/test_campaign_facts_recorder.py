"""The facts recorder on both databases, without Kafka: campaign upserts, call outcomes
merged whatever the order, replays that change nothing, refusals once, budgets on start
and tenant isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.clock import FixedClock
from common.consumer import ConsumedEvent
from common.db import create_engine, create_session_factory, event_store
from common.events import build_envelope
from common.events.catalog import (
    CallAbandonedV1,
    CallDialedV1,
    CallEndedV1,
    CampaignStateChangedV1,
    DispositionSubmittedV1,
    EventPayload,
)
from common.eventstore import EventStore
from common.migrations import upgrade_to_head
from compliance.adapters.db import decisions, metadata
from compliance.adapters.facts_tables import call_attempts, campaign_budgets, campaign_facts, refusals
from compliance.app.budget import BudgetKeeper
from compliance.app.dispositions import UnknownLeadNumber
from compliance.app.facts import FactsRecorder
from compliance.domain.policy import PolicyCatalog
from compliance.main import SPEC

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
NUMBER = "+13055551234"
_offsets = iter(range(10**6))


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_to_head(database_url, SPEC.migrations, [metadata])
    engine = create_engine(database_url)
    factory = create_session_factory(engine)
    async with factory() as s, s.begin():
        for tenant in ("acme", "globex"):
            await s.execute(insert(decisions).values(
                tenant_id=tenant, decision_id=f"d-{tenant}", lead_id="lead-1", list_id="l",
                campaign_id="c1", attempt=1, outcome="cleared", phone_e164=NUMBER, payload={},
                decided_at=T0 - timedelta(hours=5)))
    yield factory
    await engine.dispose()


def consumed(tenant: str, *payloads: EventPayload) -> list[ConsumedEvent]:
    return [ConsumedEvent(build_envelope(p, tenant_id=tenant, source="/tests"), "t", 0,
                          next(_offsets)) for p in payloads]


async def handle(sessions: async_sessionmaker[AsyncSession], recorder: FactsRecorder,
                 events: list[ConsumedEvent]) -> None:
    async with sessions() as s, s.begin():
        await recorder.on_events(s, events)


async def table(sessions: async_sessionmaker[AsyncSession], t: Any) -> list[Any]:
    async with sessions() as s:
        return list(await s.execute(select(t).order_by(*t.primary_key.columns)))


@pytest.fixture
def recorder() -> FactsRecorder:
    return FactsRecorder(BudgetKeeper(PolicyCatalog.bundled(), EventStore("/test")),
                         ["not_interested"], FixedClock(T0))


async def test_recorder(sessions: async_sessionmaker[AsyncSession], recorder: FactsRecorder) -> None:
    def call(cls: Any, call_id: str, minutes: int, **kw: Any) -> Any:
        return cls(call_id=call_id, campaign_id="c1", lead_id="lead-1",
                   at=T0 + timedelta(minutes=minutes), **kw)

    batch = consumed(
        "acme",
        CampaignStateChangedV1(campaign_id="c1", state="created", product="solar"),
        CampaignStateChangedV1(campaign_id="c1", state="running", product="solar",
                               requires_consent=True, caller_id="+13055550100"),
        call(CallDialedV1, "k1", 0, attempt=1),
        call(CallAbandonedV1, "k1", 1, wait_ms=2500),
        call(CallEndedV1, "k1", 2, outcome="completed", ring_ms=9000),
        # k2's end arrives without its dial: the attempt starts at the end instant.
        call(CallEndedV1, "k2", 10, outcome="no_answer", ring_ms=30000),
        DispositionSubmittedV1(agent_id="a", call_id="k1", lead_id="lead-1", campaign_id="c1",
                               disposition="not_interested", category="contact", at=T0),
        DispositionSubmittedV1(agent_id="a", call_id="k3", lead_id="lead-1", campaign_id="c1",
                               disposition="sale", category="success", at=T0))
    await handle(sessions, recorder, batch)
    # A replay (new event ids, same facts) and k2's late dial change nothing else.
    await handle(sessions, recorder, consumed("acme", *[e.payload() for e in batch[2:]],
                                              call(CallDialedV1, "k2", 9, attempt=2)))

    camp = await table(sessions, campaign_facts)
    assert [(r.campaign_id, r.state, r.product, r.requires_consent, r.caller_id) for r in camp] \
        == [("c1", "running", "solar", True, "+13055550100")]
    attempts = await table(sessions, call_attempts)
    assert [(r.call_id, r.phone_e164, r.at, r.outcome) for r in attempts] == [
        ("k1", NUMBER, T0, "abandoned"), ("k2", NUMBER, T0 + timedelta(minutes=9), "no_answer")]
    assert [(r.call_id, r.disposition) for r in await table(sessions, refusals)] == [
        ("k1", "not_interested")]
    # created and running each published the all-packs budget (versions 1 and 2).
    budget = (await table(sessions, campaign_budgets))[0]
    assert (budget.max_abandon_rate, budget.window_s, budget.version) == (0.03, 86400, 2)
    async with sessions() as s:
        types = (await s.execute(select(event_store.c.event_type, event_store.c.tenant_id)
                                 .where(event_store.c.stream_id == "abandon-budget-c1"))).all()
    assert types == [("callcenter.compliance.abandon_budget_set.v1", "acme")] * 2

    # Globex's facts stay empty; a call of a lead globex never screened is refused.
    for t in (campaign_facts, call_attempts, refusals, campaign_budgets):
        assert {r.tenant_id for r in await table(sessions, t)} == {"acme"}, t.name
    with pytest.raises(UnknownLeadNumber):
        await handle(sessions, recorder, consumed("globex", CallDialedV1(
            call_id="g1", campaign_id="c1", lead_id="lead-unknown", at=T0, attempt=1)))
