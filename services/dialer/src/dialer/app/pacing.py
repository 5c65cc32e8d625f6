"""One pacing pass over a tenant's campaigns: observe, decide, place, explain.

For the running campaigns this process owns (preview campaigns are dialed by their
agents, not here) it reads the agents, the calls in flight and the hoppers; shares the
ready agents among campaigns by priority (:func:`allocate_agents`); then, highest
priority first, builds each campaign's :class:`PacingState` (statistics learned from its
own calls, the abandon accounting of compliance's window) and asks the pacing engine
(:func:`decide`, unchanged) how many lines to dial. It places
``min(lines, hopper, carrier limits, tick budget)`` calls in the hopper's lead order,
each after the last-mile check, and records the decision as ``PacingDecidedV1``.

Fail closed: a power or predictive campaign without a budget from compliance dials
progressive (reason ``no_abandon_budget``). Rolling window: compliance's window is
rolling; the engine plans a window with a start and an end, so it is given one that
started at the oldest answer still in the window and has at least one correction horizon
(1 h) to run: abandons so far count in full, and the plan never assumes the window is
about to end.

Volume of ``pacing.decided`` (a tick is ~0.2 s): a decision is published when its mode,
lines asked, lines placed or reason differ from the last one published for the campaign,
at most once per ``pacing_event_interval_s`` (1 s), and at least every 60 s otherwise.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from common.clock import Clock
from common.events import build_envelope
from common.events.catalog import PacingDecidedV1
from common.eventstore import Outbox
from dialer.adapters.db import agent_campaigns, agents, calls, hopper
from dialer.app.budgets import Budget, WindowCounts, budgets_of, window_counts
from dialer.app.calls import CallBook, CallSettings, DialOrder
from dialer.app.hopper import Hopper
from dialer.app.metrics import (
    ABANDON_RATE,
    ABANDON_TARGET,
    LINES_DIALED,
    PACING_LATENCY,
    TRUNK_HELD_BACK,
)
from dialer.app.statistics import StatisticsBook
from dialer.domain.campaign import ABANDON_THRESHOLD_S, OVERDIAL_MODES, DialMode, LeadOrdering
from dialer.domain.dialing import (
    IN_FLIGHT_STATES,
    CallState,
    allocate_agents,
    dnc_list_applies,
    last_mile_verdict,
)
from dialer.domain.pacing import (
    AbandonBudget,
    PacingConfig,
    PacingDecision,
    PacingMode,
    PacingState,
    decide,
)
from dialer.domain.pacing_estimators import CampaignStatistics
from dialer.domain.trunk import TrunkMeter

NO_BUDGET_REASON = "no_abandon_budget"
_HEARTBEAT_S = 60.0
_DEFAULT_WINDOW_S = 86_400
# The window's counts scan up to window_s (e.g. 30 days) of a campaign's answers: re-read at
# most this often per campaign (seconds of the monotonic clock), not every tick.
_WINDOW_REFRESH_S = 2.0
_BUSY_AGENT_STATES = ("on_call", "wrap_up")
_ORDER = {
    LeadOrdering.FIFO.value: (hopper.c.id,),
    LeadOrdering.NEWEST_FIRST.value: (hopper.c.id.desc(),),
    LeadOrdering.FEWEST_ATTEMPTS_FIRST.value: (hopper.c.attempt, hopper.c.id),
}


def hopper_order(lead_ordering: str) -> tuple[Any, ...]:
    """ORDER BY of the hopper for a campaign's lead ordering."""
    return _ORDER[lead_ordering]


@dataclass
class _Pipeline:
    """What the dialer sees of one campaign's calls and agents now (seconds)."""

    ring_elapsed: list[float] = field(default_factory=list)
    waiting: int = 0
    talk_elapsed: list[float] = field(default_factory=list)
    wrap_elapsed: list[float] = field(default_factory=list)
    paused: int = 0
    hopper: int = 0

    @property
    def in_flight(self) -> int:
        return len(self.ring_elapsed) + self.waiting


@dataclass
class _Published:
    key: tuple[str, int, int, str]
    at: float


@dataclass(frozen=True)
class Outcome:
    """A campaign's pacing decision and what came of it (for tests and the event)."""

    campaign_id: str
    mode: str
    decision: PacingDecision
    reason: str
    lines_placed: int
    held_back: int
    hopper_depth: int


class Pacer:
    """Pacing passes of the campaigns this process owns."""

    def __init__(self, *, hopper_: Hopper, call_book: CallBook, outbox: Outbox, source: str,
                 statistics: StatisticsBook, trunk: TrunkMeter, owner_id: str | None,
                 event_interval_s: float = 1.0) -> None:
        self.hopper = hopper_
        self.calls = call_book
        self.outbox = outbox
        self.source = source
        self.statistics = statistics
        self.trunk = trunk
        self.owner_id = owner_id
        self.event_interval_s = event_interval_s
        self._published: dict[tuple[str, str], _Published] = {}
        # (tenant, campaign) -> (budget and AMD error rate read with, monotonic s, counts)
        self._windows: dict[tuple[str, str], tuple[tuple[Budget, float], float, WindowCounts]] = {}
        self._cold = CampaignStatistics.cold_start()

    def forget(self, keep: set[tuple[str, str]]) -> None:
        """Forget the campaigns no longer paced here."""
        self.statistics.forget(keep)
        for key in set(self._published) - keep:
            del self._published[key]
        for key in set(self._windows) - keep:
            del self._windows[key]

    async def dial_tenant(self, session: AsyncSession, tenant: str, running: Sequence[Row[Any]],
                          *, clock: Clock, monotonic: float, lines_in_use: int,
                          max_calls: int) -> tuple[list[DialOrder], list[Outcome]]:
        """Pace the tenant's ``running`` campaign rows (owned, not preview).

        Campaigns are owned per process but agents are shared per tenant: the pass holds
        the tenant's lock (:func:`lock_tenant`) and reads the calls in flight under it, so
        a pass of another process placing calls for the same agents waits and sees them.
        The pass's time is read once the calls in flight are: the calls it places are
        stamped after every change it saw (a call that ended while the pass waited for the
        lock or a connection does not end after the dials it made room for)."""
        await lock_tenant(session, tenant)
        now, pipelines = await self._pipelines(session, tenant, clock)
        ready = await self._ready_agents(session, tenant)
        order = sorted(running, key=lambda r: (-r.priority, r.campaign_id))
        idle = allocate_agents(ready, {c: p.in_flight for c, p in pipelines.items()},
                               {r.campaign_id: pipelines[r.campaign_id].hopper for r in order},
                               [r.campaign_id for r in order])
        budgets = await budgets_of(session, tenant, [r.campaign_id for r in order])
        orders: list[DialOrder] = []
        outcomes: list[Outcome] = []
        for row in order:
            outcome, placed = await self._pace(
                session, row, pipelines[row.campaign_id], idle[row.campaign_id],
                budgets.get(row.campaign_id), now=now, monotonic=monotonic,
                lines_in_use=lines_in_use + len(orders), max_calls=max_calls - len(orders))
            orders += placed
            outcomes.append(outcome)
            await self._publish(session, tenant, outcome, now, monotonic)
        return orders, outcomes

    async def _pace(self, session: AsyncSession, row: Row[Any], pipeline: _Pipeline, idle: int,
                    budget: Budget | None, *, now: datetime, monotonic: float,
                    lines_in_use: int, max_calls: int) -> tuple[Outcome, list[DialOrder]]:
        campaign_id = row.campaign_id
        mode, reason_override = PacingMode(row.dial_mode), None
        if mode.value in OVERDIAL_MODES and budget is None:
            mode, reason_override = PacingMode.PROGRESSIVE, NO_BUDGET_REASON
        target = 0.0 if budget is None else min(
            budget.max_abandon_rate, row.target_abandon_rate or budget.max_abandon_rate)
        window = await self._window(session, row, budget, now, target, monotonic)
        statistics = (await self.statistics.current(session, row.tenant_id, campaign_id)
                      if mode is PacingMode.PREDICTIVE else self._cold)
        config = PacingConfig(mode=mode, target_abandon_rate=target,
                              answer_grace=ABANDON_THRESHOLD_S,
                              max_lines_per_agent=row.max_lines_per_agent,
                              lines_per_agent=row.lines_per_agent)
        state = PacingState(now=now.timestamp(), idle_agents=idle, paused_agents=pipeline.paused,
                            busy_elapsed=(), talk_elapsed=tuple(pipeline.talk_elapsed),
                            wrap_elapsed=tuple(pipeline.wrap_elapsed),
                            ring_elapsed=tuple(pipeline.ring_elapsed),
                            waiting_answers=pipeline.waiting, statistics=statistics,
                            budget=window)
        started = time.perf_counter()
        decision = decide(state, config)
        PACING_LATENCY.labels(mode.value).observe(time.perf_counter() - started)
        wanted = min(decision.lines_to_dial, pipeline.hopper, max(0, max_calls))
        allowed = min(wanted, self.trunk.available(monotonic, lines_in_use))
        placed = await self._place(session, row, allowed, now) if allowed else []
        self.trunk.take(len(placed), monotonic)
        if wanted > allowed:
            TRUNK_HELD_BACK.labels(campaign_id).inc(wanted - allowed)
        if placed:
            LINES_DIALED.labels(campaign_id, mode.value).inc(len(placed))
        reason = reason_override or decision.reason.value
        return Outcome(campaign_id, mode.value, decision, reason, len(placed),
                       wanted - allowed, pipeline.hopper), placed

    async def _window(self, session: AsyncSession, row: Row[Any], budget: Budget | None,
                      now: datetime, target: float, monotonic: float) -> AbandonBudget:
        """The engine's view of compliance's rolling window (see the module docstring);
        its counts are at most ``_WINDOW_REFRESH_S`` old."""
        if budget is None:
            return AbandonBudget(window_start=now.timestamp(), window_length=_DEFAULT_WINDOW_S)
        key, inputs = (row.tenant_id, row.campaign_id), (budget, row.amd_false_positive_rate)
        cached = self._windows.get(key)
        if (cached is not None and cached[0] == inputs
                and 0.0 <= monotonic - cached[1] < _WINDOW_REFRESH_S):
            counts = cached[2]
        else:
            counts = await window_counts(session, row.tenant_id, row.campaign_id, now=now,
                                         budget=budget,
                                         false_positive_rate=row.amd_false_positive_rate)
            self._windows[key] = (inputs, monotonic, counts)
        ABANDON_RATE.labels(row.campaign_id).set(counts.rate)
        ABANDON_TARGET.labels(row.campaign_id).set(target)
        horizon = min(float(budget.window_s), PacingConfig().correction_horizon)
        elapsed = 0.0 if counts.first_answer_at is None else (
            now - counts.first_answer_at).total_seconds()
        elapsed = max(0.0, min(elapsed, budget.window_s - horizon))
        return AbandonBudget(window_start=now.timestamp() - elapsed,
                             window_length=float(budget.window_s),
                             live_answers=counts.live_answers, abandons=counts.abandons)

    async def _place(self, session: AsyncSession, row: Row[Any], count: int,
                     now: datetime) -> list[DialOrder]:
        """Take ``count`` hopper entries in lead order; the last-mile check decides dial or
        return."""
        entries = (await session.execute(
            select(hopper).where(hopper.c.tenant_id == row.tenant_id,
                                 hopper.c.campaign_id == row.campaign_id)
            .order_by(*hopper_order(row.lead_ordering)).limit(count))).all()
        lists = await self.hopper.dnc_lists(session, row.tenant_id, [e.phone_e164 for e in entries])
        settings = CallSettings.of(row)
        orders: list[DialOrder] = []
        for entry in entries:
            on_dnc = any(dnc_list_applies(lst, row.campaign_id)
                         for lst in lists.get(entry.phone_e164, ()))
            verdict = last_mile_verdict(valid_until=entry.valid_until, now=now, on_dnc=on_dnc)
            if verdict is not None:
                await self.hopper.give_back(session, [entry], verdict, now)
            elif (order := await self.calls.place(session, entry, now, settings=settings,
                                                  owner_id=self.owner_id)) is not None:
                orders.append(order)
        return orders

    async def _publish(self, session: AsyncSession, tenant: str, outcome: Outcome,
                       now: datetime, monotonic: float) -> None:
        """``PacingDecidedV1`` through the outbox, volume-bounded (module docstring)."""
        key = (outcome.mode, outcome.decision.lines_to_dial, outcome.lines_placed,
               outcome.reason)
        last = self._published.get((tenant, outcome.campaign_id))
        if last is not None:
            since = monotonic - last.at
            if since < self.event_interval_s or (last.key == key and since < _HEARTBEAT_S):
                return
        self._published[(tenant, outcome.campaign_id)] = _Published(key, monotonic)
        explain: dict[str, Any] = dict(outcome.decision.explain) | {
            "engine_reason": outcome.decision.reason.value,
            "held_back_by_trunk": outcome.held_back,
            "hopper_depth": outcome.hopper_depth}
        event = PacingDecidedV1(
            campaign_id=outcome.campaign_id, mode=outcome.mode,
            lines_to_dial=outcome.decision.lines_to_dial, lines_placed=outcome.lines_placed,
            reason=outcome.reason, explain=explain, at=now)
        await self.outbox.add(session, [build_envelope(event, tenant_id=tenant,
                                                       source=self.source)])

    # ------------------------------------------------------------------ observation
    async def _pipelines(self, session: AsyncSession, tenant: str,
                         clock: Clock) -> tuple[datetime, dict[str, _Pipeline]]:
        """The time of the pass (read just after the calls in flight) and, per campaign,
        calls in flight, busy and paused agents, and hopper depth."""
        pipelines: dict[str, _Pipeline] = defaultdict(_Pipeline)
        in_flight = (await session.execute(
            select(calls.c.campaign_id, calls.c.state, calls.c.dialed_at)
            .where(calls.c.tenant_id == tenant,
                   calls.c.state.in_([s.value for s in IN_FLIGHT_STATES])))).all()
        now = clock.now()
        for campaign_id, state, dialed_at in in_flight:
            if state == CallState.WAITING.value:
                pipelines[campaign_id].waiting += 1
            else:
                pipelines[campaign_id].ring_elapsed.append(
                    max(0.0, (now - dialed_at).total_seconds()))
        busy_call = func.coalesce(agents.c.reserved_call_id, agents.c.call_id)
        busy = await session.execute(
            select(calls.c.campaign_id, calls.c.connected_at, calls.c.ended_at)
            .select_from(agents.join(calls, (calls.c.tenant_id == agents.c.tenant_id)
                                     & (calls.c.call_id == busy_call)))
            .where(agents.c.tenant_id == tenant,
                   agents.c.state.in_(_BUSY_AGENT_STATES) | agents.c.reserved_call_id.is_not(None)))
        for campaign_id, connected_at, ended_at in busy:
            # A reserved agent has not talked yet; a hung-up call leaves its agent in wrap-up.
            if ended_at is not None:
                pipelines[campaign_id].wrap_elapsed.append(
                    max(0.0, (now - ended_at).total_seconds()))
            else:
                elapsed = 0.0 if connected_at is None else (now - connected_at).total_seconds()
                pipelines[campaign_id].talk_elapsed.append(max(0.0, elapsed))
        paused = await session.execute(
            select(agent_campaigns.c.campaign_id, func.count())
            .select_from(agents.join(agent_campaigns,
                                     (agent_campaigns.c.tenant_id == agents.c.tenant_id)
                                     & (agent_campaigns.c.agent_id == agents.c.agent_id)))
            .where(agents.c.tenant_id == tenant, agents.c.state == "paused")
            .group_by(agent_campaigns.c.campaign_id))
        for campaign_id, count in paused:
            pipelines[campaign_id].paused = int(count)
        depths = await session.execute(
            select(hopper.c.campaign_id, func.count()).where(hopper.c.tenant_id == tenant)
            .group_by(hopper.c.campaign_id))
        for campaign_id, count in depths:
            pipelines[campaign_id].hopper = int(count)
        return now, pipelines

    async def _ready_agents(self, session: AsyncSession, tenant: str) -> dict[str, set[str]]:
        """Each ready agent not reserved for a call, and the campaigns it serves."""
        ready = await session.execute(
            select(agents.c.agent_id, agent_campaigns.c.campaign_id)
            .join(agent_campaigns, (agent_campaigns.c.tenant_id == agents.c.tenant_id)
                  & (agent_campaigns.c.agent_id == agents.c.agent_id))
            .where(agents.c.tenant_id == tenant, agents.c.state == "ready",
                   agents.c.reserved_call_id.is_(None)))
        campaigns_of: dict[str, set[str]] = defaultdict(set)
        for agent_id, campaign_id in ready:
            campaigns_of[agent_id].add(campaign_id)
        return campaigns_of


async def lock_tenant(session: AsyncSession, tenant: str) -> None:
    """Serialise the tenant's pacing passes across dialer processes until the transaction
    ends: a PostgreSQL transaction-level advisory lock on a 64-bit hash of the tenant id.
    SQLite needs none (one process; the database has a single writer)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(f"dialer-pacing:{tenant}".encode(), digest_size=8).digest()
    await session.execute(select(func.pg_advisory_xact_lock(
        int.from_bytes(digest, "big", signed=True))))


def is_paced(row: Row[Any]) -> bool:
    """Whether the pacing loop dials this campaign (preview campaigns are agent-driven)."""
    return bool(row.dial_mode != DialMode.PREVIEW.value)
