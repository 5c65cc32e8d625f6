"""Trunk lines held by connected calls, restarts under the same name, the abandon deadline,
releasing carrier legs and shutting down (on both databases, scripted gateway)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from common.errors import Conflict
from dialer.adapters.db import agents, calls, dialer_instances
from dialer.adapters.telephony import Progress
from dialer.app import following, pacing
from dialer.app.budgets import Budget
from dialer.app.ownership import database_now, new_instance_id
from dialer.app.pacing import lock_tenant
from dialer.domain.campaign import CampaignCommand
from dialer.domain.trunk import TrunkLimits, TrunkMeter

from .conftest import ABANDON_MESSAGE


async def fill(dialer: Any, camp: str, n: int) -> None:
    for i in range(n):
        await dialer.clear(camp, f"lead-{i}", f"+1312555{i:04d}")


async def state_of(dialer: Any, call_id: str) -> tuple[str, str | None]:
    row = await dialer.txn(lambda s: dialer.calls.load(s, "acme", call_id))
    return row.state, row.outcome


async def answer(dialer: Any, call_id: str) -> None:
    await dialer.txn(lambda s: dialer.calls.progress(s, "acme", call_id,
                                                     Progress.ANSWERED_HUMAN, dialer.clock.now()))


async def test_connected_calls_keep_holding_their_trunk_lines(dialer: Any) -> None:
    camp = await dialer.campaign()
    for i in range(3):
        await dialer.agent(f"a{i}", "ready", [camp])
    await fill(dialer, camp, 10)
    dialer.loop.pacer.trunk = TrunkMeter(TrunkLimits(calls_per_second=100,
                                                     max_concurrent_lines=3), 0.0)
    first = await dialer.loop.dial()
    assert len(first) == 3
    for order in first:
        await answer(dialer, order.call_id)
    assert {(await state_of(dialer, o.call_id))[0] for o in first} == {"connected"}
    for i in range(3, 6):  # three more agents: pacing wants three lines, the trunk is full
        await dialer.agent(f"a{i}", "ready", [camp])
    assert await dialer.loop.dial() == []
    [outcome] = dialer.loop.last_outcomes
    assert (outcome.decision.lines_to_dial, outcome.held_back) == (3, 3)
    call = await dialer.txn(lambda s: dialer.calls.load(s, "acme", first[0].call_id))
    await dialer.txn(lambda s: dialer.calls.end(s, call, "completed", dialer.clock.now()))
    assert len(await dialer.loop.dial()) == 1  # one line free again


async def test_a_restart_under_the_same_name_ends_the_calls_of_the_earlier_start(
        dialer: Any) -> None:
    camp = await dialer.campaign()
    for i in range(2):
        await dialer.agent(f"a{i}", "ready", [camp])
    await fill(dialer, camp, 2)
    earlier = dialer.new_loop(new_instance_id("pod-1"), name="pod-1")
    orders = await earlier.dial()
    await earlier.heartbeat()  # its heartbeat still looks fresh after the container restart
    other = new_instance_id("pod-10")  # another pod whose name starts the same way
    await dialer.txn(lambda s: s.execute(update(calls).where(
        calls.c.call_id == orders[1].call_id).values(owner_id=other)))
    await answer(dialer, orders[0].call_id)
    await dialer.agent("a1", "paused", [camp])
    restarted = dialer.new_loop(new_instance_id("pod-1"), name="pod-1")
    assert restarted.instance_id != earlier.instance_id
    assert restarted.instance_id.startswith("pod-1-")
    assert await restarted.end_previous_incarnations() == 1
    assert await state_of(dialer, orders[0].call_id) == ("ended", "failed")  # was connected
    assert (await state_of(dialer, orders[1].call_id))[0] == "dialing"  # pod-10's call
    instances = await dialer.txn(lambda s: s.scalars(select(dialer_instances.c.instance_id)))
    assert earlier.instance_id not in set(instances)
    assert await restarted.end_previous_incarnations() == 0


async def test_a_route_past_the_abandon_deadline_connects_nothing(dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await fill(dialer, camp, 1)
    [order] = await dialer.loop.dial()
    await dialer.agent("a1", "paused", [camp])
    await answer(dialer, order.call_id)
    await dialer.agent("a1", "ready", [camp])  # the agent comes back too late
    routed = await dialer.txn(lambda s: dialer.calls.route(
        s, "acme", order.call_id, dialer.clock.now(), in_time=lambda: False))
    assert routed is None
    assert await state_of(dialer, order.call_id) == ("waiting_for_agent", None)
    assert await dialer.txn(lambda s: s.scalar(select(agents.c.reserved_call_id))) is None


async def test_a_gateway_that_never_ends_the_call_gets_its_leg_hung_up(
        dialer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(following, "_GATEWAY_GRACE_S", 0.05)
    dialer.loop.follower.settings = dialer.settings.model_copy(update={"time_scale": 0.001})
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await fill(dialer, camp, 1)
    [order] = await dialer.loop.dial()
    dialer.gateway.hold = asyncio.Event()  # rings, then nothing
    await dialer.loop.follow(order)
    assert await state_of(dialer, order.call_id) == ("ended", "failed")
    assert dialer.gateway.legs == [(order.call_id, "hang_up", None)]
    assert dialer.gateway.closed == [order.call_id]  # the dial iterator is closed


async def test_an_answer_the_books_already_ended_hears_the_abandon_message(
        dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await fill(dialer, camp, 1)
    [order] = await dialer.loop.dial()
    call = await dialer.txn(lambda s: dialer.calls.load(s, "acme", order.call_id))
    await dialer.txn(lambda s: dialer.calls.end(s, call, "failed", dialer.clock.now()))
    dialer.gateway.script = (Progress.ANSWERED_HUMAN,)  # the carrier still connects it
    await dialer.loop.follow(order)
    assert dialer.gateway.legs == [(order.call_id, "play", ABANDON_MESSAGE)]


async def test_shutdown_abandons_waiting_answers_with_the_message_and_hangs_up_ringing_legs(
        dialer: Any) -> None:
    camp = await dialer.campaign()
    for i in range(2):
        await dialer.agent(f"a{i}", "ready", [camp])
    await fill(dialer, camp, 2)
    waiting, ringing = await dialer.loop.dial()
    for i in range(2):
        await dialer.agent(f"a{i}", "paused", [camp])
    await answer(dialer, waiting.call_id)  # no agent: it waits
    dialer.gateway.hold = asyncio.Event()  # the other one keeps ringing
    dialer.loop.start_following([waiting, ringing])
    await asyncio.sleep(0.2)
    began = asyncio.get_running_loop().time()
    await dialer.loop.wind_down()
    assert asyncio.get_running_loop().time() - began < 1.0  # not after the 2 s threshold
    assert await state_of(dialer, waiting.call_id) == ("ended", "abandoned")
    assert await state_of(dialer, ringing.call_id) == ("ended", "failed")
    assert sorted(dialer.gateway.legs) == sorted([(waiting.call_id, "play", ABANDON_MESSAGE),
                                                  (ringing.call_id, "hang_up", None)])
    assert [e["call_id"] for e in await dialer.events("call.abandoned")] == [waiting.call_id]


async def test_a_preview_call_is_never_bridged_to_an_agent_who_logged_out(dialer: Any) -> None:
    camp = await dialer.campaign(dial_mode="preview")
    await dialer.agent("a1", "ready", [camp])
    await fill(dialer, camp, 1)
    now = dialer.clock.now()
    p = await dialer.txn(lambda s: dialer.previews.reserve(s, "acme", "a1", now))
    await dialer.txn(lambda s: dialer.previews.request_dial(s, "acme", p.preview_id))
    [order] = await dialer.loop.dial()
    await dialer.agent("a1", "logged_out", [camp])
    assert await dialer.txn(lambda s: s.scalar(select(agents.c.reserved_call_id))) is None
    await dialer.agent("a1", "ready", [camp])  # back, but the reservation is gone
    await answer(dialer, order.call_id)
    assert await state_of(dialer, order.call_id) == ("waiting_for_agent", None)
    assert await dialer.txn(lambda s: dialer.calls.route(
        s, "acme", order.call_id, dialer.clock.now())) is None


async def test_previews_of_a_campaign_no_longer_running_are_never_dialed(dialer: Any) -> None:
    requested = await dialer.campaign(dial_mode="preview")
    timed = await dialer.campaign(dial_mode="preview", preview_timeout_s=10,
                                  preview_timeout_action="dial")
    await dialer.agent("a1", "ready", [requested])
    await dialer.agent("a2", "ready", [timed])
    await dialer.clear(requested, "lead-r", "+13125550001")
    await dialer.clear(timed, "lead-t", "+13125550002")
    now = dialer.clock.now()
    first = await dialer.txn(lambda s: dialer.previews.reserve(s, "acme", "a1", now))
    second = await dialer.txn(lambda s: dialer.previews.reserve(s, "acme", "a2", now))
    await dialer.txn(lambda s: dialer.previews.request_dial(s, "acme", first.preview_id))
    for camp, command in ((requested, CampaignCommand.PAUSE), (timed, CampaignCommand.STOP)):
        await dialer.txn(lambda s, c=camp, k=command: dialer.campaigns.apply(s, "acme", c, k))
    dialer.clock.advance(10)
    assert await dialer.loop.dial() == []
    rows = [await dialer.txn(lambda s, i=i: dialer.previews.get(s, "acme", i))
            for i in (first.preview_id, second.preview_id)]
    assert [(r.state, r.outcome) for r in rows] == [("returned", "campaign_not_running"),
                                                   ("skipped", "timeout_skipped")]
    assert await dialer.events("call.dialed") == []
    assert await dialer.txn(lambda s: s.scalar(select(agents.c.reserved_call_id).where(
        agents.c.reserved_call_id.is_not(None)))) is None


async def test_pacing_passes_of_one_tenant_are_serialised_across_processes(
        dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await fill(dialer, camp, 3)
    if dialer.sessions.kw["bind"].dialect.name != "postgresql":  # SQLite: one process
        assert len(await dialer.loop.dial()) == 1
        return
    async with dialer.sessions() as other, other.begin():  # another process's pass
        await lock_tenant(other, "acme")
        pending = asyncio.ensure_future(dialer.loop.dial())
        await asyncio.sleep(0.5)
        assert not pending.done()  # waits for the other pass to commit
    assert len(await pending) == 1


async def test_tenants_take_turns_at_a_tick_budget_too_small_for_all(dialer: Any) -> None:
    dialer.loop.settings = dialer.settings.model_copy(update={"max_dials_per_tick": 1})
    for tenant in ("acme", "zeta"):
        camp = await dialer.campaign(tenant=tenant)
        for i in range(2):
            await dialer.agent(f"{tenant}-a{i}", "ready", [camp], tenant=tenant)
            await dialer.clear(camp, f"{tenant}-lead-{i}", f"+1312555{i:04d}", tenant=tenant)
    placed = [o.tenant_id for _ in range(2) for o in await dialer.loop.dial()]
    assert sorted(placed) == ["acme", "zeta"]  # not acme twice


async def test_the_abandon_window_is_reread_at_most_every_two_seconds(
        dialer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real = pacing.window_counts

    async def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append(args[2])
        return await real(*args, **kwargs)

    monkeypatch.setattr(pacing, "window_counts", counting)
    camp = await dialer.campaign(dial_mode="predictive")
    row = await dialer.txn(lambda s: dialer.campaigns.get(s, "acme", camp))
    pacer, now = dialer.loop.pacer, dialer.clock.now()
    us, uk = Budget(0.03, 86_400, False, "p"), Budget(0.03, 86_400, True, "p")
    for budget, monotonic in ((us, 100.0), (us, 101.9), (us, 102.0), (uk, 102.1)):
        await dialer.txn(lambda s, b=budget, m=monotonic: pacer._window(
            s, row, b, now, 0.03, m))
    assert len(reads) == 3  # 100.0, 102.0 (2 s later) and the changed budget


async def test_preview_calls_take_the_trunk_tokens_too(dialer: Any) -> None:
    camp = await dialer.campaign(dial_mode="preview")
    for i in range(2):
        await dialer.agent(f"a{i}", "ready", [camp])
    await fill(dialer, camp, 2)
    now = dialer.clock.now()
    for i in range(2):
        p = await dialer.txn(lambda s, a=f"a{i}": dialer.previews.reserve(s, "acme", a, now))
        await dialer.txn(lambda s, p=p: dialer.previews.request_dial(s, "acme", p.preview_id))
    dialer.loop.pacer.trunk = TrunkMeter(TrunkLimits(calls_per_second=1,
                                                     max_concurrent_lines=100), 0.0)
    assert len(await dialer.loop.dial()) == 1  # one call start per second
    assert await dialer.loop.dial() == []  # the bucket is empty: the other waits
    assert len(await dialer.events("call.dialed")) == 1


async def test_the_heartbeat_goes_on_during_a_long_dialing_pass(
        dialer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    beats: list[float] = []
    real_beat = dialer.loop.heartbeat

    async def beat() -> None:
        beats.append(asyncio.get_running_loop().time())
        await real_beat()

    async def slow_tick() -> list[Any]:
        await asyncio.sleep(10)  # a pass stuck on a slow database
        return []

    monkeypatch.setattr(dialer.loop, "heartbeat", beat)
    monkeypatch.setattr(dialer.loop, "tick", slow_tick)
    running = asyncio.ensure_future(dialer.loop.run())
    await asyncio.sleep(2.5)
    dialer.loop.stop()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert len(beats) >= 3, beats  # at start-up, then every second despite the pass


async def test_recovery_spares_recent_calls_of_older_dialers_and_forgets_old_heartbeats(
        dialer: Any) -> None:
    camp = await dialer.campaign()
    now = dialer.clock.now()
    rows = [{"tenant_id": "acme", "call_id": f"legacy-{age}", "campaign_id": camp,
             "lead_id": f"l-{age}", "list_id": "list-1", "attempt": 1, "state": "ringing",
             "version": 1, "dialed_at": now - timedelta(hours=age), "owner_id": None}
            for age in (1, 5)]  # placed by a dialer without owner ids (rolling upgrade)
    await dialer.txn(lambda s: s.execute(insert(calls), rows))
    db_now = await dialer.txn(database_now)  # heartbeats are on the database's clock
    await dialer.txn(lambda s: s.execute(insert(dialer_instances), [
        {"instance_id": f"gone-{age}", "started_at": db_now - timedelta(hours=age),
         "heartbeat_at": db_now - timedelta(hours=age)} for age in (0.5, 2)]))
    assert await dialer.loop.recover() == 1
    assert (await state_of(dialer, "legacy-1"))[0] == "ringing"
    assert await state_of(dialer, "legacy-5") == ("ended", "failed")
    left = await dialer.txn(lambda s: s.scalars(select(dialer_instances.c.instance_id)))
    assert set(left) == {"gone-0.5"}


async def test_a_preview_changed_meanwhile_is_a_conflict_never_a_silent_202(
        dialer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    camp = await dialer.campaign(dial_mode="preview")
    await dialer.agent("a1", "ready", [camp])
    await fill(dialer, camp, 1)
    now = dialer.clock.now()
    p = await dialer.txn(lambda s: dialer.previews.reserve(s, "acme", "a1", now))
    stale = await dialer.txn(lambda s: dialer.previews.get(s, "acme", p.preview_id))
    await dialer.txn(lambda s: dialer.previews.skip(s, "acme", p.preview_id, now))

    async def read_before_the_skip(*args: Any) -> Any:
        return stale  # the request read the preview just before the skip committed

    monkeypatch.setattr(dialer.previews, "_open", read_before_the_skip)
    with pytest.raises(Conflict, match="changed concurrently"):
        await dialer.txn(lambda s: dialer.previews.request_dial(s, "acme", p.preview_id))
    row = await dialer.txn(lambda s: dialer.previews.get(s, "acme", p.preview_id))
    assert row.state == "skipped"


async def test_a_shifted_platform_clock_never_makes_a_live_process_look_gone(
        dialer: Any) -> None:
    camp = await dialer.campaign()
    await dialer.agent("a1", "ready", [camp])
    await fill(dialer, camp, 1)
    [order] = await dialer.loop.dial()
    await dialer.loop.heartbeat()
    dialer.clock.advance(86_400)  # this process's clock jumps a day ahead
    survivor = dialer.new_loop("dialer-survivor")
    await survivor.heartbeat()
    assert await survivor.recover() == 0  # dialer-test beat a moment ago, database time
    assert (await state_of(dialer, order.call_id))[0] == "dialing"
