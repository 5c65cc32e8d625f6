"""The facts recorder on both databases, without Kafka: campaign upserts, call outcomes
merged whatever the order, replays that change nothing, refusals once, budgets on start
and tenant isolation."""

from __future__ import annotations

import asyncio
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
from common.eventstore import ConcurrencyError, EventStore
from common.migrations import upgrade_to_head
from compliance.adapters.db import decisions, metadata
from compliance.adapters.facts_tables import call_attempts, campaign_budgets, campaign_facts, refusals
from compliance.app.budget import BudgetKeeper, budget_stream_id
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
    # created published the all-packs budget; running (same limits) republished nothing.
    budget = (await table(sessions, campaign_budgets))[0]
    assert (budget.max_abandon_rate, budget.window_s, budget.version) == (0.03, 86400, 1)
    async with sessions() as s:
        types = (await s.execute(select(event_store.c.event_type, event_store.c.tenant_id)
                                 .where(event_store.c.stream_id == "abandon-budget-c1"))).all()
    assert types == [("callcenter.compliance.abandon_budget_set.v1", "acme")]

    # Globex's facts stay empty; a call of a lead globex never screened is refused.
    for t in (campaign_facts, call_attempts, refusals, campaign_budgets):
        assert {r.tenant_id for r in await table(sessions, t)} == {"acme"}, t.name
    with pytest.raises(UnknownLeadNumber):
        await handle(sessions, recorder, consumed("globex", CallDialedV1(
            call_id="g1", campaign_id="c1", lead_id="lead-unknown", at=T0, attempt=1)))


def at_time(when: datetime, events: list[ConsumedEvent]) -> list[ConsumedEvent]:
    """``events`` with envelope time ``when``."""
    return [ConsumedEvent(e.envelope.model_copy(update={"time": when}), e.topic, e.partition,
                          e.offset) for e in events]


async def test_an_older_campaign_event_never_overwrites_a_newer_one(
        sessions: async_sessionmaker[AsyncSession], recorder: FactsRecorder) -> None:
    newer = CampaignStateChangedV1(campaign_id="c1", state="running", product="solar")
    older = CampaignStateChangedV1(campaign_id="c1", state="paused", product="old")
    await handle(sessions, recorder, at_time(T0 + timedelta(hours=1), consumed("acme", newer)))
    await handle(sessions, recorder, at_time(T0, consumed("acme", older)))
    assert [(r.state, r.product) for r in await table(sessions, campaign_facts)] == [
        ("running", "solar")]
    later = CampaignStateChangedV1(campaign_id="c1", state="stopped", product="solar")
    await handle(sessions, recorder, at_time(T0 + timedelta(hours=2), consumed("acme", later)))
    assert [r.state for r in await table(sessions, campaign_facts)] == ["stopped"]


async def test_a_call_takes_the_number_decided_before_it_not_the_latest(
        sessions: async_sessionmaker[AsyncSession], recorder: FactsRecorder) -> None:
    old, new, ancient = "+13055550001", "+13055550002", "+13055550003"
    async with sessions() as s, s.begin():
        await s.execute(insert(decisions), [
            {"tenant_id": "acme", "decision_id": f"d-{i}", "lead_id": lead, "list_id": "l",
             "campaign_id": "c1", "attempt": 1, "outcome": "cleared", "phone_e164": phone,
             "payload": {}, "decided_at": at}
            for i, (lead, phone, at) in enumerate([
                ("lead-2", old, T0 - timedelta(hours=1)),
                ("lead-2", new, T0 + timedelta(hours=1)),  # re-screened: the number changed
                ("lead-3", ancient, T0 - timedelta(days=3))])])  # outside the bulk window

    def dial(call_id: str, lead: str, at: datetime) -> CallDialedV1:
        return CallDialedV1(call_id=call_id, campaign_id="c1", lead_id=lead, at=at, attempt=1)

    await handle(sessions, recorder, consumed(
        "acme", dial("k-old", "lead-2", T0), dial("k-new", "lead-2", T0 + timedelta(hours=2)),
        dial("k-ancient", "lead-3", T0),
        DispositionSubmittedV1(agent_id="a", call_id="k-old", lead_id="lead-2",
                               campaign_id="c1", disposition="not_interested",
                               category="contact", at=T0 + timedelta(minutes=3))))
    assert {r.call_id: r.phone_e164 for r in await table(sessions, call_attempts)} == {
        "k-old": old, "k-new": new, "k-ancient": ancient}
    assert [(r.call_id, r.phone_e164) for r in await table(sessions, refusals)] == [
        ("k-old", old)]
    # The call's later events keep the number of its dial.
    await handle(sessions, recorder, consumed("acme", CallEndedV1(
        call_id="k-old", campaign_id="c1", lead_id="lead-2", at=T0 + timedelta(hours=3),
        outcome="completed", ring_ms=1000)))
    assert {r.call_id: r.phone_e164 for r in await table(sessions, call_attempts)}["k-old"] == old


async def _seen(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    return list((await table(sessions, campaign_budgets))[0].seen_jurisdictions)


async def _budget_events(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return len((await s.execute(select(event_store.c.version).where(
            event_store.c.stream_id == budget_stream_id("c1")))).all())


async def test_two_screeners_widening_one_campaign_lose_no_jurisdiction(
        sessions: async_sessionmaker[AsyncSession], database_url: str) -> None:
    a = BudgetKeeper(PolicyCatalog.bundled(), EventStore("/test"))
    b = BudgetKeeper(PolicyCatalog.bundled(), EventStore("/test"))
    async with sessions() as s, s.begin():
        await a.on_campaign_started(s, "acme", "c1", T0)
    if database_url.startswith("postgresql"):
        # A holds the row lock; B waits for it, then merges into what A committed.
        async with sessions() as sa:
            await sa.begin()
            await a.on_screened(sa, {("acme", "c1"): {"US", "US-FL"}}, T0)

            async def second() -> None:
                async with sessions() as sb, sb.begin():
                    await b.on_screened(sb, {("acme", "c1"): {"GB"}}, T0)

            task = asyncio.create_task(second())
            await asyncio.sleep(0.5)
            assert not task.done()  # blocked on the budget row
            await sa.commit()
        await asyncio.wait_for(task, 10)
    else:  # SQLite serializes writers: one after the other, from stale reads
        for keeper, codes in ((a, {"US", "US-FL"}), (b, {"GB"})):
            async with sessions() as s, s.begin():
                await keeper.on_screened(s, {("acme", "c1"): codes}, T0)
    assert await _seen(sessions) == ["GB", "US", "US-FL"]
    budget = (await table(sessions, campaign_budgets))[0]
    # GB's 3 %/24 h with AMD is in force, whatever the order; versions match the stream.
    assert (budget.max_abandon_rate, budget.window_s, budget.count_amd_misclassified) == (
        0.03, 86400, True)
    assert budget.version == await _budget_events(sessions)


async def test_a_budget_version_conflict_never_fails_the_screening_batch(
        sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch) -> None:
    keeper = BudgetKeeper(PolicyCatalog.bundled(), EventStore("/test"))
    async with sessions() as s, s.begin():
        await keeper.on_campaign_started(s, "acme", "c1", T0)
    real = EventStore.append
    failures = {"left": 1}

    async def flaky(self: EventStore, *args: Any, **kw: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise ConcurrencyError("a stream moved past its expected version (test)")
        return await real(self, *args, **kw)

    monkeypatch.setattr(EventStore, "append", flaky)
    async with sessions() as s, s.begin():  # one conflict: retried, published
        await keeper.on_screened(s, {("acme", "c1"): {"US"}}, T0)
    assert await _seen(sessions) == ["US"] and await _budget_events(sessions) == 2
    failures["left"] = 10**6
    async with sessions() as s, s.begin():  # every attempt conflicts: skipped, no error
        await keeper.on_screened(s, {("acme", "c1"): {"CA"}}, T0)
        await s.execute(insert(decisions).values(  # the batch's own writes still commit
            tenant_id="acme", decision_id="d-after", lead_id="lead-9", list_id="l",
            campaign_id="c1", attempt=1, outcome="blocked", phone_e164=NUMBER, payload={},
            decided_at=T0))
    assert await _seen(sessions) == ["US"] and await _budget_events(sessions) == 2
    assert "d-after" in {r.decision_id for r in await table(sessions, decisions)}
