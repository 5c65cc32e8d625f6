"""The simulated carrier as a gateway: progress order, exactly one terminal progress,
play_message / hang_up ending the leg, time compression, many calls at once."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime

import pytest

from common.clock import FixedClock
from dialer.adapters.simulated_carrier import CarrierProfile, Party, SimulatedCarrier
from dialer.adapters.telephony import TERMINAL_PROGRESS, Progress, TelephonyGateway

NUMBER = "+13125550142"
CLOCK = FixedClock(datetime(2026, 7, 1, 17, 0, tzinfo=UTC))  # noon in Chicago
FLAT = (1.0,) * 24
ANSWERS = CarrierProfile(answer_probability=1.0, machine_share=0.0, hourly_answer_profile=FLAT,
                         amd_false_positive_share=0.0)
RINGS_OUT = CarrierProfile(answer_probability=0.0, busy_share=0.0, failed_share=0.0)


def carrier(profile: CarrierProfile, time_scale: float = 0.001, seed: int = 3) -> SimulatedCarrier:
    return SimulatedCarrier(profile, rng=random.Random(seed), clock=CLOCK, time_scale=time_scale)


async def collect(gateway: TelephonyGateway, call_id: str, ring_timeout_s: float = 25.0,
                  caller_id: str | None = None) -> list[Progress]:
    return [p async for p in gateway.dial(call_id, NUMBER, ring_timeout_s, caller_id=caller_id)]


async def test_answer_rings_then_reports_the_verdict_in_scaled_time() -> None:
    profile = CarrierProfile(answer_probability=1.0, machine_share=0.0, ring_min_s=10.0,
                             ring_gamma_shape=1.0, ring_gamma_scale_s=0.01,
                             hourly_answer_profile=FLAT, amd_false_positive_share=0.0)
    sim = carrier(profile, time_scale=0.01)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await collect(sim, "c1") == [Progress.RINGING, Progress.ANSWERED_HUMAN]
    assert 0.095 <= loop.time() - started < 0.5  # a ~10 s ring compressed 100 times
    assert sim.live_legs == 1 and sim.truth("c1") is Party.PERSON  # the leg stays up


async def test_busy_does_not_ring() -> None:
    sim = carrier(CarrierProfile(answer_probability=0.0, busy_share=1.0, failed_share=0.0))
    assert await collect(sim, "c1") == [Progress.BUSY]
    assert sim.live_legs == 0


async def test_ring_timeout_ends_with_no_answer() -> None:
    sim = carrier(RINGS_OUT, time_scale=0.001)
    assert await collect(sim, "c1", ring_timeout_s=20.0) == [Progress.RINGING, Progress.NO_ANSWER]
    assert sim.live_legs == 0 and sim.outcomes[(None, Progress.NO_ANSWER)] == 1


async def test_hang_up_while_ringing_ends_the_dial_with_no_answer_at_once() -> None:
    sim = carrier(RINGS_OUT, time_scale=0.1)  # would ring 2.5 real seconds
    loop = asyncio.get_running_loop()
    started = loop.time()
    seen: list[Progress] = []
    async for progress in sim.dial("c1", NUMBER, 25.0):
        seen.append(progress)
        if progress is Progress.RINGING:
            await sim.hang_up("c1")
            await sim.hang_up("c1")  # idempotent
    assert seen == [Progress.RINGING, Progress.NO_ANSWER]
    assert loop.time() - started < 1.0
    assert sim.live_legs == 0


async def test_hang_up_before_the_first_ring_reports_no_answer_without_ringing() -> None:
    sim = carrier(RINGS_OUT, time_scale=1.0)
    task = asyncio.create_task(collect(sim, "c1"))
    await asyncio.sleep(0.01)  # inside the 0.5 s ring-back
    await sim.hang_up("c1")
    assert await asyncio.wait_for(task, 1.0) == [Progress.NO_ANSWER]


async def test_play_message_ends_an_answered_leg_after_the_message() -> None:
    sim = carrier(ANSWERS, time_scale=0.01)
    assert (await collect(sim, "c1"))[-1] is Progress.ANSWERED_HUMAN
    loop = asyncio.get_running_loop()
    started = loop.time()
    await sim.play_message("c1", "one two three four five six seven eight nine ten")  # 4 s
    assert 0.035 <= loop.time() - started < 0.5
    assert sim.live_legs == 0 and sim.truth("c1") is None
    await sim.play_message("c1", "again")  # gone: no-op
    await sim.hang_up("c1")


async def test_hang_up_cuts_a_message_short() -> None:
    sim = carrier(ANSWERS, time_scale=0.001)
    await collect(sim, "c1")
    play = asyncio.create_task(sim.play_message("c1", "word " * 100_000))  # 40 s scaled
    await asyncio.sleep(0.01)
    assert not play.done()
    await sim.hang_up("c1")
    await asyncio.wait_for(play, 1.0)
    assert sim.live_legs == 0


async def test_play_message_on_a_ringing_leg_hangs_up() -> None:
    sim = carrier(RINGS_OUT, time_scale=0.1)
    seen: list[Progress] = []
    async for progress in sim.dial("c1", NUMBER, 25.0):
        seen.append(progress)
        if progress is Progress.RINGING:
            await sim.play_message("c1", "hello")
    assert seen == [Progress.RINGING, Progress.NO_ANSWER]


async def test_machine_truth_is_kept_behind_a_wrong_verdict() -> None:
    profile = CarrierProfile(answer_probability=1.0, machine_share=1.0,
                             amd_false_negative_share=1.0, hourly_answer_profile=FLAT)
    sim = carrier(profile)
    assert (await collect(sim, "c1"))[-1] is Progress.ANSWERED_HUMAN  # the AMD got it wrong
    assert sim.truth("c1") is Party.MACHINE
    assert sim.outcomes[(Party.MACHINE, Progress.ANSWERED_HUMAN)] == 1
    await sim.hang_up("c1")
    assert sim.truth("c1") is None


@pytest.mark.parametrize(("ring_timeout_s", "caller_id"), [(0.0, None), (25.0, "5550142"),
                                                           (25.0, "+0123456789")])
async def test_rejected_dials_fail_at_once(ring_timeout_s: float, caller_id: str | None) -> None:
    sim = carrier(ANSWERS)
    assert await collect(sim, "c1", ring_timeout_s, caller_id) == [Progress.FAILED]
    assert sim.live_legs == 0


async def test_duplicate_live_call_id_fails_without_touching_the_live_leg() -> None:
    sim = carrier(ANSWERS)
    await collect(sim, "c1", caller_id="+13125550100")
    assert await collect(sim, "c1") == [Progress.FAILED]
    assert sim.truth("c1") is Party.PERSON


async def test_cancelled_dial_tears_the_leg_down() -> None:
    sim = carrier(RINGS_OUT, time_scale=1.0)
    task = asyncio.create_task(collect(sim, "c1"))
    await asyncio.sleep(0.01)
    assert sim.live_legs == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sim.live_legs == 0


async def test_unreleased_answered_leg_expires() -> None:
    sim = carrier(CarrierProfile(answer_probability=1.0, hourly_answer_profile=FLAT,
                                 max_leg_s=10.0), time_scale=0.001)
    await collect(sim, "c1")
    assert sim.live_legs == 1
    await asyncio.sleep(0.03)
    assert sim.live_legs == 0


async def test_thousands_of_simultaneous_calls_each_end_exactly_once() -> None:
    sim = carrier(CarrierProfile(hourly_answer_profile=FLAT), time_scale=0.0005, seed=11)
    results = await asyncio.gather(*(collect(sim, f"c{i}") for i in range(3000)))
    for progress in results:
        assert [p for p in progress if p in TERMINAL_PROGRESS] == [progress[-1]]
        assert progress[:-1] in ([], [Progress.RINGING])
    answered = [i for i, p in enumerate(results)
                if p[-1] in (Progress.ANSWERED_HUMAN, Progress.ANSWERED_MACHINE)]
    assert sum(sim.outcomes.values()) == 3000
    assert sim.live_legs == len(answered) > 0
    await asyncio.gather(*(sim.hang_up(f"c{i}") for i in answered))
    assert sim.live_legs == 0


async def test_no_phone_number_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    sim = carrier(ANSWERS)
    with caplog.at_level(logging.DEBUG, logger="dialer.adapters.simulated_carrier"):
        await collect(sim, "c1", caller_id="3125550199")
        await collect(sim, "c2", caller_id="+13125550100")
        await sim.play_message("c2", "bye")
    assert caplog.records  # the rejection was logged...
    assert "5550142" not in caplog.text and "312555" not in caplog.text  # ...without numbers
