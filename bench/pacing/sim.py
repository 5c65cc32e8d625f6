"""Discrete-event simulation of one outbound campaign shift (hand-written event heap).

Common random numbers: the n-th dial of a seed has the same outcome (live or not, its
delays) and, if connected, the same talk and wrap-up draws under every policy; breaks
are the same too. The pacing policy is called every second (optionally also whenever
an agent becomes available), with a :class:`PacingState` built from what a dialer can
observe.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.pacing.scenarios import HOUR4, SHIFT, TWIN_HANDLE_MEAN, WARMUP, Scenario
from dialer.domain.pacing import AbandonBudget, PacingState
from dialer.domain.pacing_estimators import CampaignStatistics

END = WARMUP + SHIFT
CHUNK = 40_000
STATS_REFRESH = 60.0  # seconds between estimator snapshots handed to the pacer
TICK, ANSWER, EXPIRE, FREE, BREAK, BREAK_END = range(6)
NO_AGENTS = np.zeros(0)


class Policy:
    """A pacing policy: how many calls to dial for a state. May keep private state."""

    name = "policy"
    learns = False  # whether it needs the learned CampaignStatistics
    # A function of the counts alone (no elapsed times, no memory): when nothing happened
    # since its last decision it would dial nothing, so the simulator skips the call.
    counts_only = False
    # Whether it reads the elapsed times (else it gets zeros of the right length).
    needs_elapsed = False
    # Whether it is told which busy agents are in wrap-up (their call has ended) and for
    # how long, as a dialer that sees hang-ups is; else every busy agent is reported by
    # elapsed handle time alone. The Markovian twins have no wrap-up phase.
    sees_phases = False

    def decide(self, state: PacingState) -> int:
        raise NotImplementedError


def _lognormal(mean: float, sd: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with this mean and standard deviation."""
    sigma2 = math.log(1.0 + (sd / mean) ** 2)
    return math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)


class CallStream:
    """Per-seed random draws of the n-th dial (chunked, identical for every policy)."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng([seed, 1])
        self.cols: list[list[float]] = [[] for _ in range(8)]

    def ensure(self, n: int) -> None:
        while len(self.cols[0]) <= n:
            r = self.rng
            for col, draw in zip(self.cols, (
                r.random(CHUNK), r.random(CHUNK), r.random(CHUNK), r.gamma(4.0, 2.0, CHUNK),
                r.standard_normal(CHUNK), r.standard_normal(CHUNK),
                r.standard_exponential(CHUNK), r.standard_exponential(CHUNK),
            ), strict=True):
                col.extend(draw.tolist())


@dataclass
class Metrics:
    """Raw counters of the measured shift."""

    dials: int = 0
    answers: int = 0
    abandons: int = 0
    contacts: int = 0
    busy: float = 0.0
    paused: float = 0.0
    decision_seconds: float = 0.0
    decisions: int = 0
    minute_answers: list[int] = field(default_factory=lambda: [0] * 480)
    minute_abandons: list[int] = field(default_factory=lambda: [0] * 480)
    lines: list[int] = field(default_factory=list)


def _overlap(a: float, b: float) -> float:
    return max(0.0, min(b, END) - max(a, WARMUP))


def simulate(
    scenario: Scenario, policy: Policy, seed: int, *, event_decisions: bool = False
) -> dict[str, Any]:
    """Run one shift; returns the per-run metrics of the spec.

    The policy decides every second and, with ``event_decisions``, also whenever an
    agent becomes available.
    """
    n_agents = scenario.agents
    grace = scenario.grace
    markov = scenario.markovian
    stream = CallStream(seed)
    cols = stream.cols
    u_live, u_fail, u_ftime, g_delay, z_talk, z_wrap, e_flight, e_handle = cols
    talk_before = _lognormal(150.0, 150.0)
    talk_after = _lognormal(scenario.talk_mean_after_hour4, 150.0)
    wrap_mu, wrap_sigma = _lognormal(20.0, 10.0)
    flight_mean = scenario.flight_mean
    live_p = scenario.live_probability
    m = Metrics()

    heap: list[tuple[float, int, int, int]] = []
    seq = 0
    idle: deque[int] = deque(range(n_agents))
    # per agent: busy (talking or in wrap-up), since when, and when its call hangs up
    is_busy = np.zeros(n_agents, dtype=bool)
    start_at, hang_up_at = np.zeros(n_agents), np.zeros(n_agents)
    paused: set[int] = set()
    pending_break: set[int] = set()
    in_flight: dict[int, float] = {}
    ring_out: deque[tuple[float, int]] = deque()
    fail_heap: list[tuple[float, int]] = []
    waiting: deque[int] = deque()  # call ids, FIFO; abandoned ones removed lazily
    waiting_alive: set[int] = set()
    answer_time: dict[int, float] = {}
    next_call = 0
    obs_live: list[float] = []
    obs_other: list[float] = []
    obs_handle: list[float] = []
    obs_talk: list[float] = []
    obs_wrap: list[float] = []
    phases = policy.sees_phases and not markov
    stats = CampaignStatistics.cold_start()
    next_refresh = STATS_REFRESH
    win_answers = win_abandons = 0
    window = AbandonBudget(0.0, WARMUP)
    changed = True  # anything happened since the last decision

    def push(t: float, kind: int, data: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, kind, data))

    if scenario.breaks:
        brng = np.random.default_rng([seed, 2])
        for agent in brng.choice(n_agents, scenario.break_agents, replace=False).tolist():
            for block in range(4):
                push(WARMUP + 7200.0 * (block + brng.random()), BREAK, agent)
    push(0.0, TICK, 0)

    def connect(agent: int, call: int, t: float) -> None:
        if markov:
            handle = talk = TWIN_HANDLE_MEAN * e_handle[call]
        else:
            mu, sigma = talk_after if t >= HOUR4 else talk_before
            talk = math.exp(mu + sigma * z_talk[call])
            handle = talk + math.exp(wrap_mu + wrap_sigma * z_wrap[call])
        is_busy[agent], start_at[agent], hang_up_at[agent] = True, t, t + talk
        if WARMUP <= t < END:
            m.contacts += 1
        m.busy += _overlap(t, t + handle)
        push(t + handle, FREE, agent)

    def serve_waiting(agent: int, t: float) -> bool:
        while waiting:
            call = waiting.popleft()
            if call in waiting_alive:
                waiting_alive.discard(call)
                connect(agent, call, t)
                return True
        return False

    def purge(t: float) -> None:
        nonlocal changed
        if (ring_out and ring_out[0][0] <= t) or (fail_heap and fail_heap[0][0] <= t):
            changed = True
        while ring_out and ring_out[0][0] <= t:
            end, call = ring_out.popleft()
            obs_other.append(end - in_flight.pop(call))
        while fail_heap and fail_heap[0][0] <= t:
            end, call = heapq.heappop(fail_heap)
            obs_other.append(end - in_flight.pop(call))

    def abandon(call: int) -> None:
        nonlocal win_abandons
        at = answer_time.pop(call)
        if at >= window.window_start:
            win_abandons += 1
        if WARMUP <= at < END:
            m.abandons += 1
            m.minute_abandons[int((at - WARMUP) // 60)] += 1

    def decide(t: float) -> None:
        nonlocal next_call, stats, next_refresh, window, changed
        if policy.counts_only and not changed:
            return
        changed = False
        if policy.learns and t >= next_refresh:
            stats = stats.observe(live_answer_delays=obs_live, non_live_durations=obs_other,
                                  handle_times=obs_handle, talk_times=obs_talk,
                                  wrap_times=obs_wrap)
            for observed in (obs_live, obs_other, obs_handle, obs_talk, obs_wrap):
                observed.clear()
            next_refresh = t + STATS_REFRESH
        talk_elapsed = wrap_elapsed = ()
        if policy.needs_elapsed:
            ring_elapsed = t - np.fromiter(in_flight.values(), np.float64, len(in_flight))
            if phases:  # an agent talks until its hang-up, then wraps up until it is free
                talking = hang_up_at > t
                talk_elapsed = t - start_at[talking]
                wrap_elapsed = t - hang_up_at[is_busy > talking]
                busy_elapsed = NO_AGENTS
            else:
                busy_elapsed = t - start_at[is_busy]
        else:
            busy_elapsed, ring_elapsed = np.zeros(np.count_nonzero(is_busy)), np.zeros(len(in_flight))
        state = PacingState(
            now=t, idle_agents=len(idle), paused_agents=len(paused),
            busy_elapsed=busy_elapsed, ring_elapsed=ring_elapsed,
            waiting_answers=len(waiting_alive), statistics=stats,
            budget=AbandonBudget(window.window_start, window.window_length,
                                 win_answers, win_abandons),
            talk_elapsed=talk_elapsed, wrap_elapsed=wrap_elapsed,
        )
        c0 = time.perf_counter()
        n = policy.decide(state)
        m.decision_seconds += time.perf_counter() - c0
        m.decisions += 1
        if n <= 0:
            return
        stream.ensure(next_call + n)
        measured = WARMUP <= t < END
        p_live = live_p(t)
        for _ in range(n):
            k = next_call
            next_call += 1
            in_flight[k] = t
            if measured:
                m.dials += 1
            live = u_live[k] < p_live
            if markov:
                end = t + flight_mean * e_flight[k]
                if live:
                    push(end, ANSWER, k)
                else:
                    heapq.heappush(fail_heap, (end, k))
            elif live:
                push(t + 2.0 + g_delay[k], ANSWER, k)
            elif u_fail[k] < 0.3:
                heapq.heappush(fail_heap, (t + 1.0 + 3.0 * u_ftime[k], k))
            else:
                ring_out.append((t + 25.0, k))

    while heap:
        t, _, kind, data = heapq.heappop(heap)
        if t >= END:
            break
        purge(t)
        if kind != TICK:
            changed = True
        if kind == TICK:
            if t >= WARMUP and window.window_start < WARMUP:
                window = AbandonBudget(WARMUP, SHIFT)
                win_answers = win_abandons = 0
            if t >= WARMUP:
                m.lines.append(len(in_flight))
            decide(t)
            push(t + 1.0, TICK, 0)
        elif kind == ANSWER:
            obs_live.append(t - in_flight.pop(data))
            answer_time[data] = t
            if t >= window.window_start:
                win_answers += 1
            if WARMUP <= t < END:
                m.answers += 1
                m.minute_answers[int((t - WARMUP) // 60)] += 1
            if idle and not waiting_alive:
                answer_time.pop(data)
                connect(idle.popleft(), data, t)
            elif grace > 0.0:
                waiting.append(data)
                waiting_alive.add(data)
                push(t + grace, EXPIRE, data)
            else:
                abandon(data)
        elif kind == EXPIRE:
            if data in waiting_alive:
                waiting_alive.discard(data)
                abandon(data)
            else:
                answer_time.pop(data, None)
        elif kind == FREE:
            started, hung_up = float(start_at[data]), float(hang_up_at[data])
            is_busy[data] = False
            obs_handle.append(t - started)
            if phases:
                obs_talk.append(hung_up - started)
                obs_wrap.append(t - hung_up)
            if data in pending_break:
                pending_break.discard(data)
                paused.add(data)
                m.paused += _overlap(t, t + 900.0)
                push(t + 900.0, BREAK_END, data)
            elif not serve_waiting(data, t):
                idle.append(data)
            if event_decisions:
                decide(t)
        elif kind == BREAK:
            if is_busy[data]:
                pending_break.add(data)
            elif data not in paused:
                idle.remove(data)
                paused.add(data)
                m.paused += _overlap(t, t + 900.0)
                push(t + 900.0, BREAK_END, data)
        elif kind == BREAK_END:
            paused.discard(data)
            if not serve_waiting(data, t):
                idle.append(data)
            if event_decisions:
                decide(t)
    return summarize(scenario, m)


def summarize(scenario: Scenario, m: Metrics) -> dict[str, Any]:
    """Per-run metrics of the spec from the raw counters."""
    hours = SHIFT / 3600.0
    available = scenario.agents * SHIFT - m.paused
    ans = np.cumsum([0, *m.minute_answers])
    abd = np.cumsum([0, *m.minute_abandons])
    roll_ans = ans[60:] - ans[:-60]
    roll_abd = abd[60:] - abd[:-60]
    rolling = float(np.max(roll_abd / np.maximum(roll_ans, 1)))
    lines = np.asarray(m.lines, dtype=np.float64) / scenario.agents
    return {
        "occupancy": m.busy / available,
        "abandon_rate": m.abandons / max(m.answers, 1),
        "abandons": m.abandons,
        "live_answers": m.answers,
        "dials_per_agent_hour": m.dials / (scenario.agents * hours),
        "contacts_per_agent_hour": m.contacts / (scenario.agents * hours),
        "wait_per_contact": (available - m.busy) / max(m.contacts, 1),
        "worst_rolling_hour_abandon": rolling,
        "lines_per_agent_mean": float(lines.mean()),
        "lines_per_agent_p95": float(np.percentile(lines, 95)),
        "decision_us": 1e6 * m.decision_seconds / max(m.decisions, 1),
        "decisions": m.decisions,
    }


PolicyFactory = Callable[[], Policy]
