"""Hopper, pacing, last-mile check, routing, abandon and call ends, on both databases.

The use cases run on a real database with a fixed clock and a scripted gateway; the
Kafka-driven service is covered by test_service.py.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from common.consumer import ConsumedEvent
from common.db import core_metadata
from common.events import build_envelope
from common.events.catalog import ConsentRevokedV1, DncEntryAddedV1, DncEntryRemovedV1
from dialer.adapters.db import agents, calls, consent_revocations, hopper, metadata
from dialer.adapters.telephony import Progress
from dialer.domain.campaign import CampaignCommand

from .conftest import cleared

PHONE = "+13125550142"


def dnc(phone: str, at: datetime, list_id: str = "tenant", added: bool = True) -> Any:
    if added:
        return DncEntryAddedV1(entry_key=f"{list_id}:{phone}", list_id=list_id,
                               phone_e164=phone, source="api", added_at=at)
    return DncEntryRemovedV1(entry_key=f"{list_id}:{phone}", list_id=list_id,
                             phone_e164=phone, removed_at=at)


async def hopper_depth(dialer: Any) -> int:
    return int(await dialer.txn(lambda s: s.scalar(select(func.count()).select_from(hopper))))


async def test_progressive_never_dials_more_calls_than_ready_agents(dialer: Any) -> None:
    camp = await dialer.campaign()
    for i in range(10):
        await dialer.clear(camp, f"lead-{i}", f"+1312555{i:04d}")
    for a in ("a1", "a2", "a3"):
        await dialer.agent(a, "ready", [camp])
    first = await dialer.loop.dial()
    assert len(first) == 3
    assert await dialer.loop.dial() == []  # all three agents are covered by calls ringing
    # one call ends unanswered: its agent is free again, exactly one more line
    await dialer.txn(lambda s: dialer.calls.progress(s, "acme", first[0].call_id,
                                                     Progress.NO_ANSWER, dialer.clock.now()))
    assert len(await dialer.loop.dial()) == 1
    await dialer.agent("a3", "paused", [camp])  # 3 calls in flight for 2 ready agents
    assert await dialer.loop.dial() == []
    assert await hopper_depth(dialer) == 6
    status = await dialer.txn(lambda s: dialer.campaigns.status(s, "acme", camp))
    assert (status.calls_ringing, status.ready_agents, status.hopper_depth) == (3, 2, 6)


async def test_paused_campaign_does_not_dial(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.clear(camp, "lead-1", PHONE)
    await dialer.agent("a1", "ready", [camp])
    await dialer.txn(lambda s: dialer.campaigns.apply(s, "acme", camp, CampaignCommand.PAUSE))
    assert await dialer.loop.dial() == []
    await dialer.txn(lambda s: dialer.campaigns.apply(s, "acme", camp, CampaignCommand.START))
    assert len(await dialer.loop.dial()) == 1


async def test_dnc_addition_after_clearance_pulls_the_lead_from_the_hopper(dialer: Any) -> None:
    camp = await dialer.campaign()
    other = await dialer.campaign()
    await dialer.clear(camp, "lead-1", PHONE)
    await dialer.clear(other, "lead-2", PHONE)
    await dialer.clear(camp, "lead-3", "+13125550199")
    await dialer.deliver(dialer.hopper.on_dnc_events,
                         dnc(PHONE, dialer.clock.now(), list_id=f"campaign:{camp}"))
    returned = await dialer.events("lead.returned")
    assert [(e["lead_id"], e["reason"]) for e in returned] == [("lead-1", "dnc")]
    await dialer.deliver(dialer.hopper.on_dnc_events, dnc(PHONE, dialer.clock.now()))
    returned = await dialer.events("lead.returned")
    assert [(e["lead_id"], e["reason"]) for e in returned] == [("lead-1", "dnc"), ("lead-2", "dnc")]
    assert await hopper_depth(dialer) == 1


def revoked(consent_id: str, at: datetime, phone: str | None = PHONE,
            campaign_id: str | None = None) -> ConsentRevokedV1:
    return ConsentRevokedV1(consent_id=consent_id, revoked_at=at, phone_e164=phone,
                            campaign_id=campaign_id)


async def test_consent_revocation_pulls_the_numbers_leads_from_the_hopper(dialer: Any) -> None:
    camp = await dialer.campaign()
    other = await dialer.campaign()
    await dialer.clear(camp, "lead-1", PHONE)
    await dialer.clear(other, "lead-2", PHONE)
    await dialer.clear(camp, "lead-3", "+13125550199")
    now = dialer.clock.now()
    # Another tenant's revocation of the same number, and an old event without the
    # number, touch nothing here.
    await dialer.deliver(dialer.hopper.on_compliance_events, revoked("c-0", now),
                         tenant="globex")
    await dialer.deliver(dialer.hopper.on_compliance_events, revoked("c-1", now, phone=None))
    assert await dialer.events("lead.returned") == []
    # A consent scoped to one campaign: that campaign's lead for the number goes back.
    await dialer.deliver(dialer.hopper.on_compliance_events,
                         revoked("c-2", now, campaign_id=camp))
    returned = await dialer.events("lead.returned")
    assert [(e["lead_id"], e["reason"]) for e in returned] == [("lead-1", "clearance_expired")]
    # A consent for every campaign: the other campaign's lead too; replaying changes nothing.
    for _ in range(2):
        await dialer.deliver(dialer.hopper.on_compliance_events, revoked("c-3", now))
    returned = await dialer.events("lead.returned")
    assert [(e["lead_id"], e["reason"]) for e in returned] == [
        ("lead-1", "clearance_expired"), ("lead-2", "clearance_expired")]
    assert await hopper_depth(dialer) == 1
    kept = await dialer.txn(lambda s: s.execute(
        select(consent_revocations.c.tenant_id, consent_revocations.c.consent_id)
        .order_by(consent_revocations.c.tenant_id, consent_revocations.c.consent_id)))
    assert [tuple(r) for r in kept] == [("acme", "c-2"), ("acme", "c-3"), ("globex", "c-0")]


async def test_a_clearance_decided_before_a_seen_revocation_is_given_back(dialer: Any) -> None:
    """The decision and the revocation travel on different partitions: the decision may
    arrive after the revocation it predates. It is given back, never queued or dialed; one
    decided after the revocation (compliance knew of it) is queued."""
    camp = await dialer.campaign()
    other = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp, other])
    at = dialer.clock.now()
    revocation = build_envelope(revoked("c-1", at, campaign_id=camp), tenant_id="acme",
                                source="/test")

    def decision(campaign: str, lead: str, seconds: float) -> ConsumedEvent:
        envelope = build_envelope(cleared(campaign, lead, PHONE, at), tenant_id="acme",
                                  source="/test")
        return ConsumedEvent(envelope.model_copy(
            update={"time": revocation.time + timedelta(seconds=seconds)}), "t", 0, 0)

    await dialer.txn(lambda s: dialer.hopper.on_compliance_events(
        s, [ConsumedEvent(revocation, "t", 0, 0)]))
    await dialer.txn(lambda s: dialer.hopper.on_compliance_events(s, [
        decision(camp, "lead-1", -1.0),  # decided before: given back
        decision(other, "lead-2", -1.0)]))  # another campaign, outside the scope: queued
    returned = await dialer.events("lead.returned")
    assert [(e["lead_id"], e["reason"]) for e in returned] == [("lead-1", "clearance_expired")]
    assert len(await dialer.loop.dial()) == 1
    assert [e["lead_id"] for e in await dialer.events("call.dialed")] == ["lead-2"]
    await dialer.txn(lambda s: dialer.hopper.on_compliance_events(
        s, [decision(camp, "lead-1", 1.0)]))  # re-screened after the revocation
    assert await hopper_depth(dialer) == 1


async def test_last_mile_check_never_dials_a_number_on_dnc(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await dialer.agent("a2", "ready", [camp])
    # The DNC addition was projected before this (older) clearance reached the hopper.
    await dialer.deliver(dialer.hopper.on_dnc_events, dnc(PHONE, dialer.clock.now()))
    await dialer.clear(camp, "lead-1", PHONE)
    await dialer.clear(camp, "lead-2", "+13125550199")
    orders = await dialer.loop.dial()
    assert [o.phone_e164 for o in orders] == ["+13125550199"]
    assert [(e["lead_id"], e["reason"]) for e in await dialer.events("lead.returned")] == [
        ("lead-1", "dnc")]
    assert all(e["lead_id"] != "lead-1" for e in await dialer.events("call.dialed"))


async def test_dnc_removal_makes_the_number_dialable_again(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    now = dialer.clock.now()
    await dialer.deliver(dialer.hopper.on_dnc_events, dnc(PHONE, now), dnc(PHONE, now, added=False))
    await dialer.clear(camp, "lead-1", PHONE)
    assert len(await dialer.loop.dial()) == 1


async def test_expired_clearance_is_returned_at_the_last_mile(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await dialer.clear(camp, "lead-1", PHONE, valid_s=30)
    dialer.clock.advance(30)  # valid strictly before valid_until
    assert await dialer.loop.dial() == []
    assert [(e["lead_id"], e["reason"]) for e in await dialer.events("lead.returned")] == [
        ("lead-1", "clearance_expired")]
    assert dialer.gateway.dialed == []


async def test_sweep_returns_expired_entries_and_leads_of_stopped_campaigns(dialer: Any) -> None:
    paused = await dialer.campaign()
    stopped = await dialer.campaign()
    await dialer.txn(lambda s: dialer.campaigns.apply(s, "acme", paused, CampaignCommand.PAUSE))
    await dialer.clear(paused, "lead-1", PHONE, valid_s=10)
    await dialer.clear(paused, "lead-2", PHONE, valid_s=100)
    await dialer.clear(stopped, "lead-3", PHONE)
    await dialer.txn(lambda s: dialer.campaigns.apply(s, "acme", stopped, CampaignCommand.STOP))
    await dialer.clear(stopped, "lead-4", PHONE)  # cleared after the stop: never queued
    dialer.clock.advance(10)
    await dialer.loop.tick()
    returned = {(e["lead_id"], e["reason"]) for e in await dialer.events("lead.returned")}
    assert returned == {("lead-1", "clearance_expired"), ("lead-3", "campaign_stopped"),
                        ("lead-4", "campaign_stopped")}
    assert await hopper_depth(dialer) == 1


async def test_cleared_leads_of_unknown_campaigns_or_other_tenants_are_ignored(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.clear("campaign-nope", "lead-1", PHONE)
    await dialer.clear(camp, "lead-2", PHONE, tenant="globex")
    await dialer.clear(camp, "lead-3", PHONE)
    await dialer.clear(camp, "lead-3", PHONE)  # a duplicate decision does not queue twice
    assert await hopper_depth(dialer) == 1
    assert await dialer.events("lead.returned") == []


async def test_live_answer_goes_to_the_longest_idle_ready_agent(dialer: Any) -> None:
    camp = await dialer.campaign()
    t0 = dialer.clock.now()
    for agent_id, idle_since_s in (("a-new", 30), ("a-oldest", 0), ("a-mid", 10)):
        dialer.clock.advance(0)
        await dialer.agent(agent_id, "ready", [camp], at=t0.replace(second=idle_since_s))
    await dialer.agent("a-elsewhere", "ready", ["campaign-other"], at=t0.replace(second=0))
    await dialer.clear(camp, "lead-1", PHONE)
    await dialer.clear(camp, "lead-2", "+13125550199")
    dialer.gateway.script = (Progress.RINGING, Progress.ANSWERED_HUMAN)
    await dialer.run_calls(await dialer.loop.dial())
    connected = await dialer.events("call.connected")
    assert sorted(e["agent_id"] for e in connected) == ["a-mid", "a-oldest"]
    answered = await dialer.events("call.answered")
    assert [e["answered_by"] for e in answered] == ["human", "human"]
    reserved = await dialer.txn(lambda s: s.scalar(
        select(func.count()).select_from(agents).where(agents.c.reserved_call_id.is_not(None))))
    assert reserved == 2
    assert await dialer.events("call.ended") == []


async def test_no_ready_agent_abandons_with_the_message_within_two_real_seconds(
        dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await dialer.clear(camp, "lead-1", PHONE)
    orders = await dialer.loop.dial()
    await dialer.agent("a1", "paused", [camp])  # the agent leaves while the call rings
    dialer.gateway.script = (Progress.ANSWERED_HUMAN,)
    began = asyncio.get_running_loop().time()
    await dialer.run_calls(orders)
    # the person has waited for an agent as long as allowed (minus the margin the abandon
    # takes) and hears the abandon message before 2 s have passed, not after
    [(call_id, action, _)] = dialer.gateway.legs
    assert (call_id, action) == (orders[0].call_id, "play")
    assert 1.6 <= dialer.gateway.leg_times[0] - began < 2.0
    assert [e["lead_id"] for e in await dialer.events("call.abandoned")] == ["lead-1"]
    ended = await dialer.events("call.ended")
    assert [(e["outcome"], e["agent_id"]) for e in ended] == [("abandoned", None)]
    assert await dialer.events("call.connected") == []


async def test_agent_ready_within_the_threshold_takes_the_waiting_call(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await dialer.clear(camp, "lead-1", PHONE)
    orders = await dialer.loop.dial()
    await dialer.agent("a1", "paused", [camp])
    dialer.gateway.script = (Progress.ANSWERED_HUMAN,)
    task = asyncio.ensure_future(dialer.run_calls(orders))
    await asyncio.sleep(0.5)
    await dialer.agent("a1", "ready", [camp])
    await task
    assert [e["agent_id"] for e in await dialer.events("call.connected")] == ["a1"]
    assert await dialer.events("call.abandoned") == []


async def test_agent_hang_up_completes_the_call_and_frees_the_agent(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await dialer.clear(camp, "lead-1", PHONE)
    await dialer.clear(camp, "lead-2", "+13125550199")
    dialer.gateway.script = (Progress.RINGING, Progress.ANSWERED_HUMAN)
    orders = await dialer.loop.dial()
    await dialer.run_calls(orders)
    call_id = orders[0].call_id
    assert await dialer.loop.dial() == []  # the agent is reserved for the call
    await dialer.agent("a1", "on_call", [camp], call_id=call_id)
    dialer.clock.advance(95)
    await dialer.agent("a1", "wrap_up", [camp], call_id=call_id)
    await dialer.agent("a1", "wrap_up", [camp], call_id=call_id)  # repeated: no second end
    ended = await dialer.events("call.ended")
    assert [(e["outcome"], e["agent_id"], e["talk_ms"]) for e in ended] == [
        ("completed", "a1", 95_000)]
    await dialer.agent("a1", "ready", [camp])
    assert len(await dialer.loop.dial()) == 1


async def test_machine_and_unanswered_calls_end_at_once(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await dialer.agent("a2", "ready", [camp])
    await dialer.clear(camp, "lead-1", PHONE)
    await dialer.clear(camp, "lead-2", "+13125550199")
    orders = await dialer.loop.dial()
    dialer.gateway.script = (Progress.RINGING, Progress.ANSWERED_MACHINE)
    await dialer.loop.follow(orders[0])
    dialer.gateway.script = (Progress.BUSY,)
    await dialer.loop.follow(orders[1])
    assert [e["answered_by"] for e in await dialer.events("call.answered")] == ["machine"]
    assert sorted(e["outcome"] for e in await dialer.events("call.ended")) == ["busy", "machine"]


async def test_restart_ends_every_live_call_exactly_once_a_waiting_answer_as_abandoned(
        dialer: Any) -> None:
    camp = await dialer.campaign()
    for i in range(3):
        await dialer.agent(f"a{i}", "ready", [camp])
        await dialer.clear(camp, f"lead-{i}", f"+1312555000{i}")
    orders = await dialer.loop.dial()
    # one call connected, one answered and waiting, one still ringing when the process died
    await dialer.txn(lambda s: dialer.calls.progress(s, "acme", orders[0].call_id,
                                                     Progress.ANSWERED_HUMAN, dialer.clock.now()))
    await dialer.agent("a1", "paused", [camp])
    await dialer.agent("a2", "paused", [camp])
    await dialer.txn(lambda s: dialer.calls.progress(s, "acme", orders[1].call_id,
                                                     Progress.ANSWERED_HUMAN, dialer.clock.now()))
    assert await dialer.loop.recover() == 0  # the calls' follower is this live process
    restarted = dialer.new_loop("dialer-restarted")  # the first never heart-beat again
    assert await restarted.recover() == 3
    assert await restarted.recover() == 0  # idempotent
    ended = await dialer.events("call.ended")
    assert sorted(e["call_id"] for e in ended) == sorted(o.call_id for o in orders)
    # a person answered and no agent took the call: the abandon window must count it
    outcomes = {e["call_id"]: e["outcome"] for e in ended}
    assert [outcomes[o.call_id] for o in orders] == ["failed", "abandoned", "failed"]
    assert [e["call_id"] for e in await dialer.events("call.abandoned")] == [orders[1].call_id]
    live = await dialer.txn(lambda s: s.scalar(select(func.count()).select_from(calls).where(
        calls.c.state != "ended")))
    assert live == 0
    assert await dialer.txn(lambda s: s.scalar(select(func.count()).select_from(agents).where(
        agents.c.reserved_call_id.is_not(None)))) == 0


async def test_migrations_build_exactly_the_declared_tables(migrated_engine: Any) -> None:
    async with migrated_engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(
            MigrationContext.configure(c), [core_metadata, metadata]))
    assert diff == []
