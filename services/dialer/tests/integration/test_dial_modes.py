"""Dial modes through the pacing engine, abandon budgets, pacing.decided, carrier limits,
answering machines and abandon messages, lead ordering and ownership recovery, on both
databases (use cases driven directly with a scripted gateway; Kafka in test_service.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from common.db import outbox
from common.errors import Conflict, NotFound, Unprocessable
from common.events.catalog import AbandonBudgetSetV1
from dialer.adapters.db import calls, dialer_instances
from dialer.adapters.telephony import Progress
from dialer.app.budgets import Budget, on_budget_events, window_counts
from dialer.app.ownership import Ownership, partition_of
from dialer.domain.trunk import TrunkLimits, TrunkMeter

MESSAGE = "This is Acme calling about your renewal; call 212 555 0100 to opt out."
OVERDIAL = {"abandon_message": MESSAGE}
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def budget(campaign_id: str, rate: float = 0.03, window_s: int = 86_400,
           count_amd: bool = False, at: Any = None) -> AbandonBudgetSetV1:
    return AbandonBudgetSetV1(campaign_id=campaign_id, max_abandon_rate=rate, window_s=window_s,
                              count_amd_misclassified=count_amd, jurisdictions=["US"],
                              policy_version="sha256:t", at=at)


async def give_budget(dialer: Any, campaign_id: str, **kw: Any) -> None:
    await dialer.deliver(on_budget_events, budget(campaign_id, at=dialer.clock.now(), **kw))


async def decided(dialer: Any) -> list[dict[str, Any]]:
    """pacing.decided payloads queued in the outbox, oldest first."""
    rows = await dialer.txn(lambda s: s.execute(select(outbox.c.value, outbox.c.topic)
                                                .order_by(outbox.c.id)))
    return [json.loads(v) for v, topic in rows if topic.endswith("pacing")]


async def ready_agents(dialer: Any, camp: str, n: int) -> None:
    for i in range(n):
        await dialer.agent(f"a{i}", "ready", [camp])


async def fill(dialer: Any, camp: str, n: int, prefix: str = "lead") -> None:
    for i in range(n):
        await dialer.clear(camp, f"{prefix}-{i}", f"+1312555{i:04d}")


async def test_overdial_mode_without_a_budget_from_compliance_dials_progressive(dialer: Any) -> None:
    camp = await dialer.campaign(dial_mode="power", lines_per_agent=3, **OVERDIAL)
    await ready_agents(dialer, camp, 2)
    await fill(dialer, camp, 20)
    assert len(await dialer.loop.dial()) == 2  # fail closed: one line per agent
    [event] = await decided(dialer)
    assert (event["mode"], event["reason"], event["lines_to_dial"], event["lines_placed"]) == (
        "progressive", "no_abandon_budget", 2, 2)
    assert event["explain"]["idle_agents"] == 2


async def test_power_mode_dials_its_lines_per_idle_agent_once_budgeted(dialer: Any) -> None:
    camp = await dialer.campaign(dial_mode="power", lines_per_agent=3, **OVERDIAL)
    await give_budget(dialer, camp)
    await ready_agents(dialer, camp, 2)
    await fill(dialer, camp, 20)
    assert len(await dialer.loop.dial()) == 6
    assert await dialer.loop.dial() == []  # 6 lines in flight cover 2 agents x 3
    [event] = await decided(dialer)
    assert (event["mode"], event["reason"], event["lines_placed"]) == ("power", "power", 6)
    assert dialer.gateway.dial_args == []  # placed, not yet handed to the gateway


async def test_predictive_mode_overdials_within_its_line_cap(dialer: Any) -> None:
    camp = await dialer.campaign(dial_mode="predictive", max_lines_per_agent=2, **OVERDIAL)
    await give_budget(dialer, camp)
    await ready_agents(dialer, camp, 4)
    await fill(dialer, camp, 30)
    placed = await dialer.loop.dial()
    assert 4 <= len(placed) <= 8, len(placed)  # never under progressive, never over the cap
    [outcome] = dialer.loop.last_outcomes
    assert outcome.mode == "predictive" and outcome.lines_placed == len(placed)
    assert outcome.decision.explain["answer_probability"] > 0


async def test_preview_campaigns_are_not_paced(dialer: Any) -> None:
    camp = await dialer.campaign(dial_mode="preview")
    await ready_agents(dialer, camp, 2)
    await fill(dialer, camp, 3)
    assert await dialer.loop.dial() == []
    assert await decided(dialer) == []


async def test_decisions_are_published_when_they_change_at_most_once_a_second(dialer: Any) -> None:
    camp = await dialer.campaign()
    await ready_agents(dialer, camp, 1)
    await fill(dialer, camp, 5)
    for _ in range(5):
        await dialer.loop.dial()  # 1 line, then 0 lines (covered): within the same second
    events = await decided(dialer)
    assert [(e["lines_to_dial"], e["lines_placed"]) for e in events] == [(1, 1)]
    dialer.loop.pacer.event_interval_s = 0.0
    await dialer.loop.dial()
    await dialer.loop.dial()  # same decision again: not republished before the heartbeat
    events = await decided(dialer)
    assert [(e["lines_to_dial"], e["reason"]) for e in events] == [(1, "progressive"),
                                                                   (0, "progressive")]


async def test_trunk_limits_hold_calls_back_and_count_them(dialer: Any) -> None:
    camp = await dialer.campaign()
    await ready_agents(dialer, camp, 5)
    await fill(dialer, camp, 10)
    dialer.loop.pacer.trunk = TrunkMeter(TrunkLimits(calls_per_second=2,
                                                     max_concurrent_lines=100), 0.0)
    placed = await dialer.loop.dial()
    assert len(placed) == 2
    [outcome] = dialer.loop.last_outcomes
    assert (outcome.decision.lines_to_dial, outcome.lines_placed, outcome.held_back) == (5, 2, 3)
    [event] = await decided(dialer)
    assert event["lines_placed"] == 2 and event["explain"]["held_back_by_trunk"] == 3


async def test_a_campaign_target_may_only_tighten_the_compliance_budget(dialer: Any) -> None:
    camp = await dialer.campaign(dial_mode="predictive", **OVERDIAL)
    await give_budget(dialer, camp, rate=0.03)
    with pytest.raises(Unprocessable, match="above the abandon budget compliance set"):
        await dialer.txn(lambda s: dialer.campaigns.update_settings(
            s, "acme", camp, {"target_abandon_rate": 0.05}))
    row = await dialer.txn(lambda s: dialer.campaigns.update_settings(
        s, "acme", camp, {"target_abandon_rate": 0.01}))
    assert row.target_abandon_rate == 0.01
    await ready_agents(dialer, camp, 2)
    await fill(dialer, camp, 4)
    await dialer.loop.dial()
    [outcome] = dialer.loop.last_outcomes
    assert outcome.decision.explain["mode"] == "predictive"


async def test_latest_budget_wins_and_window_counts_machines_as_people_where_required(
        dialer: Any) -> None:
    camp = await dialer.campaign(dial_mode="predictive", amd_false_positive_rate=0.1, **OVERDIAL)
    now = dialer.clock.now()
    await dialer.deliver(on_budget_events, budget(camp, rate=0.02, at=now),
                         budget(camp, rate=0.05, at=now - timedelta(hours=1)))
    rows = []
    for i, (outcome, age_h) in enumerate([("completed", 1)] * 18 + [("abandoned", 1)] * 2
                                         + [("machine", 1)] * 10 + [("abandoned", 30)]):
        at = now - timedelta(hours=age_h)
        rows.append({"tenant_id": "acme", "call_id": f"c{i}", "campaign_id": camp,
                     "lead_id": f"l{i}", "list_id": "list-1", "attempt": 1, "state": "ended",
                     "version": 3, "dialed_at": at, "answered_at": at, "ended_at": at,
                     "outcome": outcome})
    await dialer.txn(lambda s: s.execute(insert(calls), rows))
    uk = Budget(0.03, 86_400, True, "p")
    counts = await dialer.txn(lambda s: window_counts(s, "acme", camp, now=now, budget=uk,
                                                      false_positive_rate=0.1))
    # 20 live answers, 2 abandons (the one 30 h ago is out of the window), 10 machines:
    # 1 estimated person among them counts as a live answer and an abandon
    assert (counts.live_answers, counts.abandons, counts.machines, counts.misclassified) == (
        21, 3, 10, 1)
    us = Budget(0.03, 86_400, False, "p")
    counts = await dialer.txn(lambda s: window_counts(s, "acme", camp, now=now, budget=us,
                                                      false_positive_rate=0.1))
    assert (counts.live_answers, counts.abandons) == (20, 2)
    # a campaign that never set its AMD error rate (0) still counts the floor's share
    counts = await dialer.txn(lambda s: window_counts(s, "acme", camp, now=now, budget=uk,
                                                      false_positive_rate=0.0))
    assert (counts.misclassified, counts.abandons) == (1, 3)  # ceil(0.05 x 10)
    await ready_agents(dialer, camp, 1)
    await fill(dialer, camp, 2)
    await dialer.loop.dial()
    [outcome] = dialer.loop.last_outcomes
    assert outcome.decision.explain["window_abandons"] == 2  # the US-style budget row (latest)


@pytest.mark.parametrize(("ordering", "expected"), [
    ("fifo", ["lead-0", "lead-1"]),
    ("newest_first", ["lead-3", "lead-2"]),
    ("fewest_attempts_first", ["lead-1", "lead-3"]),
])
async def test_lead_ordering_picks_the_hopper_leads_dialed_first(
        dialer: Any, ordering: str, expected: list[str]) -> None:
    camp = await dialer.campaign(lead_ordering=ordering)
    for i, attempt in enumerate([3, 1, 2, 1]):
        await dialer.clear(camp, f"lead-{i}", f"+1312555000{i}", attempt=attempt)
    await ready_agents(dialer, camp, 2)
    await dialer.loop.dial()
    assert [e["lead_id"] for e in await dialer.events("call.dialed")] == expected


async def test_machines_get_the_amd_action_and_abandons_the_message(dialer: Any) -> None:
    leave = await dialer.campaign(amd_action="leave_message", amd_message="Please call back.",
                                  ring_timeout_s=40)
    hang = await dialer.campaign(abandon_message=MESSAGE)
    await dialer.agent("a1", "ready", [leave])
    await dialer.agent("a2", "ready", [hang])
    await dialer.clear(leave, "lead-1", "+13125550001")
    await dialer.clear(hang, "lead-2", "+13125550002")
    orders = {o.call_id: o for o in await dialer.loop.dial()}
    by_campaign = {o.settings.amd_action: o for o in orders.values()}
    dialer.gateway.script = (Progress.RINGING, Progress.ANSWERED_MACHINE)
    await dialer.loop.follow(by_campaign["leave_message"])
    await dialer.agent("a2", "paused", [hang])
    dialer.gateway.script = (Progress.ANSWERED_HUMAN,)
    await dialer.loop.follow(by_campaign["hang_up"])
    assert dialer.gateway.legs == [
        (by_campaign["leave_message"].call_id, "play", "Please call back."),
        (by_campaign["hang_up"].call_id, "play", MESSAGE)]
    assert sorted(dialer.gateway.dial_args) == [(25.0, "+12125550100"), (40.0, "+12125550100")]
    outcomes = sorted(e["outcome"] for e in await dialer.events("call.ended"))
    assert outcomes == ["abandoned", "machine"]


async def test_machine_is_hung_up_on_by_default(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await dialer.clear(camp, "lead-1", "+13125550001")
    [order] = await dialer.loop.dial()
    dialer.gateway.script = (Progress.ANSWERED_MACHINE,)
    await dialer.loop.follow(order)
    assert dialer.gateway.legs == [(order.call_id, "hang_up", None)]


async def test_recovery_touches_only_owned_campaigns_of_dead_processes(dialer: Any) -> None:
    camps = [await dialer.campaign() for _ in range(6)]
    while len({partition_of(c, 2) for c in camps}) < 2:  # random ids: both partitions
        camps[0] = await dialer.campaign()
    for i, camp in enumerate(camps):
        await dialer.agent(f"a{i}", "ready", [camp])
        await dialer.clear(camp, f"lead-{i}", f"+1312555000{i}")
    orders = await dialer.loop.dial()  # placed by "dialer-test", which then dies
    assert len(orders) == 6
    mine = {c for c in camps if partition_of(c, 2) == 0}
    assert 0 < len(mine) < 6  # the campaign ids spread over both partitions
    owner = Ownership()
    await owner.assign({0}, 2)
    survivor = dialer.new_loop("dialer-survivor", owner)
    await survivor.heartbeat()
    await dialer.loop.heartbeat()  # the first process is alive: nothing is touched
    assert await survivor.recover() == 0
    await dialer.txn(lambda s: s.execute(update(dialer_instances).where(  # silent since
        dialer_instances.c.instance_id == "dialer-test").values(heartbeat_at=LONG_AGO)))
    await survivor.heartbeat()
    assert await survivor.recover() == len(mine)
    ended = {e["campaign_id"] for e in await dialer.events("call.ended")}
    assert ended == mine
    await owner.revoke()
    assert not owner.owns(camps[0])


async def test_agent_release_closes_the_handle_time_predictive_learns(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await dialer.clear(camp, "lead-1", "+13125550001")
    dialer.gateway.script = (Progress.ANSWERED_HUMAN,)
    [order] = await dialer.loop.dial()
    await dialer.loop.follow(order)
    await dialer.agent("a1", "on_call", [camp], call_id=order.call_id)
    dialer.clock.advance(100)
    await dialer.agent("a1", "wrap_up", [camp], call_id=order.call_id)
    dialer.clock.advance(20)
    await dialer.agent("a1", "ready", [camp])
    row = await dialer.txn(lambda s: dialer.calls.load(s, "acme", order.call_id))
    assert (row.released_at - row.connected_at).total_seconds() == 120
    stats = await dialer.txn(lambda s: dialer.loop.pacer.statistics.current(s, "acme", camp))
    cold = await dialer.txn(lambda s: dialer.loop.pacer.statistics.current(s, "acme", "none"))
    assert stats.handle_time.mean != cold.handle_time.mean
    # one call learned: 100 s of talk (5 s bins), 20 s of wrap-up (1 s bins), 120 s handled
    for estimator, bin_index in (("talk_time", 20), ("wrap_time", 20), ("handle_time", 24)):
        gained = (getattr(stats, estimator).weights - getattr(cold, estimator).weights)
        assert int(gained.argmax()) == bin_index, estimator


async def test_preview_reserve_dial_routes_the_answer_to_the_previewing_agent(dialer: Any) -> None:
    camp = await dialer.campaign(dial_mode="preview", lead_ordering="newest_first")
    await dialer.agent("a-idle-longest", "ready", [camp])
    dialer.clock.advance(5)
    await dialer.agent("a-preview", "ready", [camp])
    await fill(dialer, camp, 2)
    now = dialer.clock.now()
    with pytest.raises(NotFound):
        await dialer.txn(lambda s: dialer.previews.reserve(s, "globex", "a-preview", now))
    p = await dialer.txn(lambda s: dialer.previews.reserve(s, "acme", "a-preview", now))
    assert (p.lead_id, p.state, p.phone_e164) == ("lead-1", "reserved", "+13125550001")
    with pytest.raises(Conflict, match="already holds a preview"):
        await dialer.txn(lambda s: dialer.previews.reserve(s, "acme", "a-preview", now))
    with pytest.raises(NotFound):
        await dialer.txn(lambda s: dialer.previews.request_dial(s, "globex", p.preview_id))
    await dialer.txn(lambda s: dialer.previews.request_dial(s, "acme", p.preview_id))
    dialer.gateway.script = (Progress.RINGING, Progress.ANSWERED_HUMAN)
    [order] = await dialer.loop.dial()  # the preview call; the campaign itself is not paced
    await dialer.loop.follow(order)
    [connected] = await dialer.events("call.connected")
    assert (connected["lead_id"], connected["agent_id"]) == ("lead-1", "a-preview")
    row = await dialer.txn(lambda s: dialer.previews.get(s, "acme", p.preview_id))
    assert (row.state, row.call_id) == ("dialed", order.call_id)


async def test_preview_skip_and_timeouts_return_or_dial_the_lead(dialer: Any) -> None:
    skip_camp = await dialer.campaign(dial_mode="preview", preview_timeout_s=10)
    dial_camp = await dialer.campaign(dial_mode="preview", preview_timeout_s=10,
                                      preview_timeout_action="dial")
    await dialer.agent("a1", "ready", [skip_camp])
    await dialer.agent("a2", "ready", [dial_camp])
    await dialer.clear(skip_camp, "lead-s", "+13125550001")
    await dialer.clear(dial_camp, "lead-d", "+13125550002")
    await dialer.clear(skip_camp, "lead-x", "+13125550003")
    now = dialer.clock.now()
    first = await dialer.txn(lambda s: dialer.previews.reserve(s, "acme", "a1", now))
    await dialer.txn(lambda s: dialer.previews.skip(s, "acme", first.preview_id, now))
    with pytest.raises(Conflict, match="is skipped"):
        await dialer.txn(lambda s: dialer.previews.request_dial(s, "acme", first.preview_id))
    ignored = await dialer.txn(lambda s: dialer.previews.reserve(s, "acme", "a1", now))
    timed = await dialer.txn(lambda s: dialer.previews.reserve(s, "acme", "a2", now))
    dialer.clock.advance(9)
    assert await dialer.loop.dial() == []  # not yet
    dialer.clock.advance(1)
    [order] = await dialer.loop.dial()
    returned = [(e["lead_id"], e["reason"]) for e in await dialer.events("lead.returned")]
    assert returned == [(first.lead_id, "preview_skipped"), (ignored.lead_id, "preview_skipped")]
    outcomes = {r.preview_id: (r.state, r.outcome) for r in [
        await dialer.txn(lambda s, i=i: dialer.previews.get(s, "acme", i))
        for i in (ignored.preview_id, timed.preview_id)]}
    assert outcomes == {ignored.preview_id: ("skipped", "timeout_skipped"),
                        timed.preview_id: ("dialed", "timeout_dialed")}
    assert [e["lead_id"] for e in await dialer.events("call.dialed")] == ["lead-d"]
    assert order.settings.caller_id == "+12125550100"


async def test_the_pacer_sees_which_busy_agents_are_talking_and_which_wrap_up(
        dialer: Any) -> None:
    """A hang-up puts the agent in wrap-up for the pacing engine (time since the call
    ended), which frees far sooner than an agent still talking."""
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await fill(dialer, camp, 5)
    dialer.gateway.script = (Progress.RINGING, Progress.ANSWERED_HUMAN)
    orders = await dialer.loop.dial()
    await dialer.run_calls(orders)
    await dialer.agent("a1", "on_call", [camp], call_id=orders[0].call_id)
    await dialer.agent("a2", "ready", [camp])
    dialer.clock.advance(95)
    await dialer.loop.dial()
    [talking] = dialer.loop.last_outcomes
    assert (talking.decision.explain["busy_agents"],
            talking.decision.explain["wrapping_agents"]) == (1, 0)
    await dialer.agent("a1", "wrap_up", [camp], call_id=orders[0].call_id)
    dialer.clock.advance(7)
    await dialer.loop.dial()
    [wrapping] = dialer.loop.last_outcomes
    assert (wrapping.decision.explain["busy_agents"],
            wrapping.decision.explain["wrapping_agents"]) == (1, 1)
