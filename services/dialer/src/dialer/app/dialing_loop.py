"""The dialing loop: a worker that paces running campaigns and follows each call.

Every ``dial_tick_s`` it returns stale hopper entries, computes the lines of every running
campaign (progressive: :func:`dialer.domain.dialing.allocate_lines`), takes the oldest
hopper entries, runs the last-mile check and places the calls, one transaction per
tenant. Each placed call is then followed by its own task through the telephony gateway:
ringing, answer, routing within the abandon threshold, or its end.

The database is the truth; the only in-memory state is the set of call tasks. One dialer
process owns every campaign in this slice: partition ownership of campaigns (several
dialer workers) comes later. On start-up, calls a previous run left live are ended as
failed: the simulated carrier's legs died with that process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.clock import Clock
from dialer.adapters.db import agent_campaigns, agents, calls, campaigns, hopper
from dialer.adapters.telephony import TERMINAL_PROGRESS, Progress, TelephonyGateway
from dialer.app.calls import CallBook, DialOrder
from dialer.app.hopper import Hopper
from dialer.domain.campaign import ABANDON_THRESHOLD_S, CampaignState
from dialer.domain.dialing import (
    IN_FLIGHT_STATES,
    CallState,
    allocate_lines,
    dnc_list_applies,
    effective_ring_timeout,
    last_mile_verdict,
)
from dialer.settings import DialerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Real seconds a gateway may overrun the ring timeout before the dialer ends the call.
_GATEWAY_GRACE_S = 10.0
_RECOVERY_BATCH = 500


class DialingLoop:
    """Worker placing and following calls for every running campaign."""

    name = "dialing-loop"

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 settings: DialerSettings, hopper_: Hopper, call_book: CallBook,
                 gateway: TelephonyGateway) -> None:
        self.sessions = sessions
        self.clock = clock
        self.settings = settings
        self.hopper = hopper_
        self.calls = call_book
        self.gateway = gateway
        self.ring_timeout_s = effective_ring_timeout(settings.ring_timeout_s)
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self.recover()
        try:
            while not self._stopping.is_set():
                try:
                    orders = await self.tick()
                except Exception:  # a failed tick is retried at the next one
                    log.exception("dialing tick failed")
                    orders = []
                for order in orders:
                    task = asyncio.create_task(self.follow(order), name=f"call:{order.call_id}")
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.dial_tick_s)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _txn(self, op: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sessions() as session, session.begin():
            return await op(session)

    async def recover(self) -> None:
        """End every call a previous run left live (each gets its one ``CallEndedV1``)."""
        while await self._txn(lambda s: self.calls.fail_live_calls(
                s, self.clock.now(), _RECOVERY_BATCH)) == _RECOVERY_BATCH:
            pass

    # ------------------------------------------------------------------ pacing
    async def tick(self) -> list[DialOrder]:
        """One pass: return stale hopper entries, then dial."""
        await self._txn(lambda s: self.hopper.sweep(s, self.clock.now(), self.settings.sweep_batch))
        return await self.dial()

    async def dial(self) -> list[DialOrder]:
        """Place the calls of every running campaign, one transaction per tenant."""
        async def running(session: AsyncSession) -> list[tuple[str, str]]:
            result = await session.execute(
                select(campaigns.c.tenant_id, campaigns.c.campaign_id)
                .where(campaigns.c.state == CampaignState.RUNNING.value))
            return [(t, c) for t, c in result]

        by_tenant: dict[str, set[str]] = defaultdict(set)
        for tenant, campaign in await self._txn(running):
            by_tenant[tenant].add(campaign)
        orders: list[DialOrder] = []
        for tenant, campaign_ids in sorted(by_tenant.items()):
            budget = self.settings.max_dials_per_tick - len(orders)
            if budget <= 0:
                break
            orders += await self._txn(
                functools.partial(self._dial_tenant, tenant=tenant, running=campaign_ids,
                                  budget=budget))
        return orders

    async def _dial_tenant(self, session: AsyncSession, tenant: str, running: set[str],
                           budget: int) -> list[DialOrder]:
        ready = await session.execute(
            select(agents.c.agent_id, agent_campaigns.c.campaign_id)
            .join(agent_campaigns, (agent_campaigns.c.tenant_id == agents.c.tenant_id)
                  & (agent_campaigns.c.agent_id == agents.c.agent_id))
            .where(agents.c.tenant_id == tenant, agents.c.state == "ready",
                   agents.c.reserved_call_id.is_(None)))
        agent_campaign_ids: dict[str, set[str]] = defaultdict(set)
        for agent_id, campaign_id in ready:
            agent_campaign_ids[agent_id].add(campaign_id)
        in_flight: dict[str, int] = dict((await session.execute(
            select(calls.c.campaign_id, func.count())
            .where(calls.c.state.in_([s.value for s in IN_FLIGHT_STATES]),
                   calls.c.tenant_id == tenant)
            .group_by(calls.c.campaign_id))).all())
        lines = allocate_lines(agent_campaign_ids, in_flight, running)
        now = self.clock.now()  # the last-mile check reads the time just before dialing
        orders: list[DialOrder] = []
        for campaign_id, count in sorted(lines.items()):
            count = min(count, budget - len(orders))
            if count > 0:
                orders += await self._dial_campaign(session, tenant, campaign_id, count, now)
        return orders

    async def _dial_campaign(self, session: AsyncSession, tenant: str, campaign_id: str,
                             count: int, now: datetime) -> list[DialOrder]:
        """Take the ``count`` oldest entries; the last-mile check decides dial or return."""
        entries = (await session.execute(
            select(hopper).where(hopper.c.tenant_id == tenant, hopper.c.campaign_id == campaign_id)
            .order_by(hopper.c.id).limit(count))).all()
        lists = await self.hopper.dnc_lists(session, tenant, [e.phone_e164 for e in entries])
        orders: list[DialOrder] = []
        for entry in entries:
            on_dnc = any(dnc_list_applies(lst, campaign_id) for lst in lists.get(entry.phone_e164, ()))
            verdict = last_mile_verdict(valid_until=entry.valid_until, now=now, on_dnc=on_dnc)
            if verdict is not None:
                await self.hopper.give_back(session, [entry], verdict, now)
            elif (order := await self.calls.place(session, entry, now)) is not None:
                orders.append(order)
        return orders

    # ------------------------------------------------------------------ one call
    async def follow(self, order: DialOrder) -> None:
        """Follow one placed call to its end through the gateway."""
        try:
            answered_at = await self._ring(order)
            if answered_at is not None:
                await self._await_agent(order, answered_at)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s broke in the dialer; ending it as failed", order.call_id)
            await self._end_failed(order)

    async def _ring(self, order: DialOrder) -> float | None:
        """Relay the gateway's progress; the loop time of a live answer still waiting for
        an agent, else None (the call ended or was connected)."""
        watchdog = self.ring_timeout_s * self.settings.time_scale + _GATEWAY_GRACE_S
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(watchdog):
                async for progress in self.gateway.dial(order.call_id, order.phone_e164,
                                                        self.ring_timeout_s):
                    at = loop.time()
                    state = await self._txn(functools.partial(
                        self._progress, order=order, progress=progress))
                    if progress in TERMINAL_PROGRESS:
                        waiting = progress is Progress.ANSWERED_HUMAN and state is CallState.WAITING
                        return at if waiting else None
        except TimeoutError:
            log.warning("gateway reported no outcome for call %s within %.0f s",
                        order.call_id, watchdog)
        await self._end_failed(order)
        return None

    async def _progress(self, session: AsyncSession, *, order: DialOrder,
                        progress: Progress) -> CallState | None:
        return await self.calls.progress(session, order.tenant_id, order.call_id, progress,
                                         self.clock.now())

    async def _await_agent(self, order: DialOrder, answered_at: float) -> None:
        """Retry routing until the abandon threshold, then abandon.

        The 2 s threshold is REAL time (a legal limit on what the called person hears):
        ``time_scale`` never shortens it.
        """
        loop = asyncio.get_running_loop()
        deadline = answered_at + ABANDON_THRESHOLD_S
        while (remaining := deadline - loop.time()) > 0:
            await asyncio.sleep(min(self.settings.route_poll_s, remaining))
            if await self._txn(lambda s: self.calls.route(s, order.tenant_id, order.call_id,
                                                          self.clock.now())):
                return
        await self._txn(lambda s: self.calls.abandon(s, order.tenant_id, order.call_id,
                                                     self.clock.now()))

    async def _end_failed(self, order: DialOrder) -> None:
        async def end(session: AsyncSession) -> None:
            call = await self.calls.load(session, order.tenant_id, order.call_id)
            if call is not None:
                await self.calls.end(session, call, "failed", self.clock.now())

        await self._txn(end)
