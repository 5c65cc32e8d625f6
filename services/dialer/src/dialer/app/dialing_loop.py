"""The dialing loop: a worker that paces the campaigns this process owns and follows each
call it places.

Every ``dial_tick_s`` it heart-beats, returns stale hopper entries, applies preview
timeouts and places the preview calls agents asked for, then runs a pacing pass per
tenant over its running campaigns (:class:`dialer.app.pacing.Pacer`: one transaction
per tenant, under the ownership lock so that a revocation waits for it). Each placed call
is then followed by its own task through the telephony gateway: ringing, answer (an
answering machine is hung up on or gets the campaign's message), routing within the
abandon threshold (an abandon plays the campaign's abandon message), or its end.

The database is the truth; in memory are the call tasks, the learned statistics of the
owned campaigns and the trunk meter (carrier limits of this process's calls). Calls left
live by a process that stopped heart-beating are ended as failed by the owner of their
campaign (:mod:`dialer.app.ownership`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.clock import Clock
from dialer.adapters.db import campaigns, dialer_instances
from dialer.adapters.telephony import TERMINAL_PROGRESS, Progress, TelephonyGateway
from dialer.app.calls import CallBook, DialOrder
from dialer.app.hopper import Hopper
from dialer.app.metrics import forget_campaign
from dialer.app.ownership import Ownership
from dialer.app.pacing import Outcome, Pacer, is_paced
from dialer.app.previews import PreviewDesk
from dialer.domain.campaign import ABANDON_THRESHOLD_S, AmdAction, CampaignState
from dialer.domain.dialing import CallState
from dialer.settings import DialerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Real seconds a gateway may overrun the ring timeout before the dialer ends the call.
_GATEWAY_GRACE_S = 10.0
_RECOVERY_BATCH = 500
_HEARTBEAT_S = 1.0  # seconds between heartbeats (owner_stale_after_s is many of them)


class DialingLoop:
    """Worker placing and following calls for the running campaigns this process owns."""

    name = "dialing-loop"

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 settings: DialerSettings, hopper_: Hopper, call_book: CallBook,
                 gateway: TelephonyGateway, pacer: Pacer, previews_: PreviewDesk,
                 ownership: Ownership, instance_id: str | None = None) -> None:
        self.sessions = sessions
        self.clock = clock
        self.settings = settings
        self.hopper = hopper_
        self.calls = call_book
        self.gateway = gateway
        self.pacer = pacer
        self.previews = previews_
        self.ownership = ownership
        self.instance_id = instance_id or f"dialer-{uuid.uuid4()}"
        self.last_outcomes: list[Outcome] = []
        self._paced: set[tuple[str, str]] = set()
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_recovery = 0.0
        self._next_heartbeat = 0.0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self.heartbeat()
        try:
            while not self._stopping.is_set():
                try:
                    orders = await self.tick()
                except Exception:  # a failed tick is retried at the next one
                    log.exception("dialing tick failed")
                    orders = []
                self.start_following(orders)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.settings.dial_tick_s)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            # the calls' legs die with this process: the next owner recovers them at once
            with contextlib.suppress(Exception):
                await self._txn(lambda s: s.execute(delete(dialer_instances).where(
                    dialer_instances.c.instance_id == self.instance_id)))

    def start_following(self, orders: list[DialOrder]) -> None:
        """Follow each placed call in its own task."""
        for order in orders:
            task = asyncio.create_task(self.follow(order), name=f"call:{order.call_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _txn(self, op: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sessions() as session, session.begin():
            return await op(session)

    # ------------------------------------------------------------------ liveness
    async def heartbeat(self) -> None:
        """Record that this process is alive (and follows its calls)."""
        now = self.clock.now()
        partitions = None if self.ownership.static else sorted(self.ownership.owned)

        async def beat(session: AsyncSession) -> None:
            updated = await session.execute(update(dialer_instances).where(
                dialer_instances.c.instance_id == self.instance_id).values(
                    heartbeat_at=now, partitions=partitions))
            if updated.rowcount == 0:  # type: ignore[attr-defined]
                await session.execute(dialer_instances.insert().values(
                    instance_id=self.instance_id, started_at=now, heartbeat_at=now,
                    partitions=partitions))

        await self._txn(beat)

    async def recover(self) -> int:
        """End the live calls of owned campaigns whose follower is gone (as failed)."""
        async def alive(session: AsyncSession) -> set[str]:
            since = self.clock.now() - timedelta(seconds=self.settings.owner_stale_after_s)
            result = await session.execute(select(dialer_instances.c.instance_id).where(
                dialer_instances.c.heartbeat_at >= since))
            return set(result.scalars()) | {self.instance_id}

        total = 0
        while True:
            ended = await self._txn(lambda s: self._recover_batch(s, alive))
            total += ended
            if ended < _RECOVERY_BATCH:
                return total

    async def _recover_batch(self, session: AsyncSession,
                             alive: Callable[[AsyncSession], Awaitable[set[str]]]) -> int:
        return await self.calls.fail_live_calls(session, self.clock.now(), _RECOVERY_BATCH,
                                                owned=self.ownership.owns,
                                                alive=await alive(session))

    # ------------------------------------------------------------------ pacing
    async def tick(self) -> list[DialOrder]:
        """One pass: heartbeat, recovery, stale hopper entries, previews, then dial."""
        loop_time = asyncio.get_running_loop().time()
        if loop_time >= self._next_heartbeat:
            self._next_heartbeat = loop_time + _HEARTBEAT_S
            await self.heartbeat()
        if loop_time >= self._next_recovery:
            self._next_recovery = loop_time + self.settings.recovery_interval_s
            await self.recover()
        await self._txn(lambda s: self.hopper.sweep(s, self.clock.now(), self.settings.sweep_batch))
        return await self.dial()

    async def dial(self) -> list[DialOrder]:
        """Preview calls and pacing passes of the owned campaigns, one transaction per
        tenant, under the ownership lock (a revocation waits for the pass)."""
        async with self.ownership.lock:
            owns = self.ownership.owns
            now = self.clock.now()
            await self._txn(lambda s: self.previews.expire(s, now, owns))
            orders = await self._txn(lambda s: self.previews.place_requested(
                s, now, owns, self.instance_id))

            async def running(session: AsyncSession) -> list[Row[Any]]:
                result = await session.execute(select(campaigns).where(
                    campaigns.c.state == CampaignState.RUNNING.value))
                return [r for r in result.all() if is_paced(r) and owns(r.campaign_id)]

            by_tenant: dict[str, list[Row[Any]]] = defaultdict(list)
            for row in await self._txn(running):
                by_tenant[row.tenant_id].append(row)
            self._forget({(t, r.campaign_id) for t, rows in by_tenant.items() for r in rows})
            outcomes: list[Outcome] = []
            monotonic = time.monotonic()
            for tenant, rows in sorted(by_tenant.items()):
                room = self.settings.max_dials_per_tick - len(orders)
                if room <= 0:
                    break
                placed, decided = await self._txn(functools.partial(
                    self.pacer.dial_tenant, tenant=tenant, running=rows, now=self.clock.now(),
                    monotonic=monotonic, lines_in_use=len(self._tasks) + len(orders),
                    max_calls=room))
                orders += placed
                outcomes += decided
            self.last_outcomes = outcomes
            return orders

    def _forget(self, paced: set[tuple[str, str]]) -> None:
        """Drop what was learned of campaigns no longer paced here."""
        for _, campaign_id in self._paced - paced:
            forget_campaign(campaign_id)
        self.pacer.forget(paced)
        self._paced = paced

    # ------------------------------------------------------------------ one call
    async def follow(self, order: DialOrder) -> None:
        """Follow one placed call to its end through the gateway."""
        try:
            progress, state, answered_at = await self._ring(order)
            if progress is Progress.ANSWERED_MACHINE and state is CallState.ENDED:
                await self._machine(order)
            elif progress is Progress.ANSWERED_HUMAN and state is CallState.WAITING:
                await self._await_agent(order, answered_at)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s broke in the dialer; ending it as failed", order.call_id)
            await self._end_failed(order)

    async def _ring(self, order: DialOrder) -> tuple[Progress | None, CallState | None, float]:
        """Relay the gateway's progress up to its terminal report: that progress, the
        call's resulting state and the loop time it arrived (None: the gateway failed)."""
        ring_timeout = order.settings.ring_timeout_s
        watchdog = ring_timeout * self.settings.time_scale + _GATEWAY_GRACE_S
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(watchdog):
                async for progress in self.gateway.dial(order.call_id, order.phone_e164,
                                                        ring_timeout,
                                                        caller_id=order.settings.caller_id):
                    at = loop.time()
                    state = await self._txn(functools.partial(
                        self._progress, order=order, progress=progress))
                    if progress in TERMINAL_PROGRESS:
                        return progress, state, at
        except TimeoutError:
            log.warning("gateway reported no outcome for call %s within %.0f s",
                        order.call_id, watchdog)
        await self._end_failed(order)
        return None, None, loop.time()

    async def _progress(self, session: AsyncSession, *, order: DialOrder,
                        progress: Progress) -> CallState | None:
        return await self.calls.progress(session, order.tenant_id, order.call_id, progress,
                                         self.clock.now())

    async def _machine(self, order: DialOrder) -> None:
        """An answering machine: leave the campaign's message, or hang up."""
        settings = order.settings
        if settings.amd_action == AmdAction.LEAVE_MESSAGE.value and settings.amd_message:
            await self._on_leg(order, self.gateway.play_message(order.call_id,
                                                                settings.amd_message))
        else:
            await self._on_leg(order, self.gateway.hang_up(order.call_id))

    async def _await_agent(self, order: DialOrder, answered_at: float) -> None:
        """Retry routing until the abandon threshold, then abandon with the message.

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
        if await self._txn(lambda s: self.calls.abandon(s, order.tenant_id, order.call_id,
                                                        self.clock.now())):
            message = order.settings.abandon_message
            await self._on_leg(order, self.gateway.play_message(order.call_id, message)
                               if message else self.gateway.hang_up(order.call_id))

    async def _on_leg(self, order: DialOrder, action: Awaitable[None]) -> None:
        """Play a message or hang up on a call already ended in the books: a gateway
        error is logged, never turned into a second end."""
        try:
            await action
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("gateway could not finish the leg of call %s", order.call_id)

    async def _end_failed(self, order: DialOrder) -> None:
        async def end(session: AsyncSession) -> None:
            call = await self.calls.load(session, order.tenant_id, order.call_id)
            if call is not None:
                await self.calls.end(session, call, "failed", self.clock.now())

        await self._txn(end)
