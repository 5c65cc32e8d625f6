"""The dialing loop: a worker that paces the campaigns this process owns and follows each
call it places.

A task of its own heart-beats every second (a long pass never delays it). Every
``dial_tick_s`` the loop ends calls left live by dead processes, returns stale hopper
entries, applies preview timeouts and places the preview calls agents asked for, then
runs a pacing pass per tenant over its running campaigns
(:class:`dialer.app.pacing.Pacer`: one transaction per tenant, under the ownership lock
so that a revocation waits for it). Each placed call is then followed by its own task
(:class:`dialer.app.following.CallFollower`).

The database is the truth; in memory are the call tasks, the learned statistics of the
owned campaigns and the trunk meter (carrier limits of this process's calls). Calls left
live by a process that stopped heart-beating are ended (failed; a waiting answer
abandoned) by the owner of their campaign (:mod:`dialer.app.ownership`); those of an
earlier start under the same name by this one at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.clock import Clock
from dialer.adapters.db import calls, campaigns, dialer_instances
from dialer.adapters.telephony import TelephonyGateway
from dialer.app.calls import CallBook, DialOrder
from dialer.app.following import CallFollower
from dialer.app.hopper import Hopper
from dialer.app.metrics import forget_campaign
from dialer.app.ownership import (
    Ownership,
    database_now,
    earlier_starts_of,
    new_instance_id,
)
from dialer.app.pacing import Outcome, Pacer, is_paced
from dialer.app.previews import PreviewDesk
from dialer.domain.campaign import CampaignState
from dialer.settings import DialerSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

_RECOVERY_BATCH = 500
_INSTANCE_ROW_TTL_S = 3600.0  # a dialer_instances row silent this long is deleted
_HEARTBEAT_S = 1.0  # seconds between heartbeats (owner_stale_after_s is many of them)


class DialingLoop:
    """Worker placing and following calls for the running campaigns this process owns."""

    name = "dialing-loop"

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 settings: DialerSettings, hopper_: Hopper, call_book: CallBook,
                 gateway: TelephonyGateway, pacer: Pacer, previews_: PreviewDesk,
                 ownership: Ownership, instance_id: str | None = None,
                 name: str | None = None) -> None:
        """``instance_id``: this start's id on the calls it places
        (:func:`~dialer.app.ownership.new_instance_id` of ``name``); ``name``: the
        configured name (``KADEN_INSTANCE_ID``) whose earlier starts' calls are ended at
        start-up (None: no earlier start can be recognised)."""
        self.sessions = sessions
        self.clock = clock
        self.settings = settings
        self.hopper = hopper_
        self.calls = call_book
        self.pacer = pacer
        self.previews = previews_
        self.ownership = ownership
        self.follower = CallFollower(sessions=sessions, clock=clock, settings=settings,
                                     call_book=call_book, gateway=gateway)
        self.instance_id = instance_id or new_instance_id(name)
        self.instance_name = name
        self.last_outcomes: list[Outcome] = []
        self._paced: set[tuple[str, str]] = set()
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._rotation = 0  # tenant the next pass starts with (see _fair_order)
        self._next_recovery = 0.0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        await self.end_previous_incarnations()
        await self.heartbeat()
        beating = asyncio.create_task(self._beat(), name="dialer-heartbeat")
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
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
            await self.wind_down()

    async def _beat(self) -> None:
        """Heart-beat every ``_HEARTBEAT_S`` on its own, whatever a dialing pass costs (a
        long pass must not make this process's live calls look orphaned)."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), _HEARTBEAT_S)
            try:
                await self.heartbeat()
            except Exception:  # retried at the next beat
                log.exception("dialer heartbeat failed")

    async def wind_down(self) -> None:
        """Stop following calls (pacing has stopped): each call in flight is ended and its
        leg released (:meth:`CallFollower.give_up_all`); then the heartbeat is deleted so
        the next owner recovers the rest (the connected calls) at once."""
        following = self.follower.following()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.follower.give_up_all(following)
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
        """Record that this process is alive (and follows its calls), in the database's
        time: one clock for every process, whatever the platform clock of each says."""
        partitions = None if self.ownership.static else sorted(self.ownership.owned)

        async def beat(session: AsyncSession) -> None:
            now = await database_now(session)
            updated = await session.execute(update(dialer_instances).where(
                dialer_instances.c.instance_id == self.instance_id).values(
                    heartbeat_at=now, partitions=partitions))
            if updated.rowcount == 0:  # type: ignore[attr-defined]
                await session.execute(dialer_instances.insert().values(
                    instance_id=self.instance_id, started_at=now, heartbeat_at=now,
                    partitions=partitions))

        await self._txn(beat)

    async def end_previous_incarnations(self) -> int:
        """At start-up: end the live calls of earlier starts of this process's ``name``
        (a restarted container keeps its pod name; its legs died with the old start,
        whose heartbeat may still look fresh) and forget their heartbeats."""
        name = self.instance_name
        if name is None:
            return 0
        total = 0
        while True:
            ended = await self._txn(lambda s: self.calls.end_live(
                s, earlier_starts_of(calls.c.owner_id, name, self.instance_id),
                self.clock.now(), _RECOVERY_BATCH))
            total += ended
            if ended < _RECOVERY_BATCH:
                break
        await self._txn(lambda s: s.execute(delete(dialer_instances).where(earlier_starts_of(
            dialer_instances.c.instance_id, name, self.instance_id))))
        if total:
            log.warning("ended %d calls left live by an earlier start of this dialer", total)
        return total

    async def recover(self) -> int:
        """End the live calls of owned campaigns whose follower is gone (as failed; a
        waiting answer abandoned); forget the heartbeats of processes gone for an hour
        (recovery does not need them: a missing heartbeat is not alive)."""
        async def alive(session: AsyncSession) -> set[str]:
            since = await database_now(session) - timedelta(
                seconds=self.settings.owner_stale_after_s)
            result = await session.execute(select(dialer_instances.c.instance_id).where(
                dialer_instances.c.heartbeat_at >= since))
            return set(result.scalars()) | {self.instance_id}

        total = 0
        while True:
            ended = await self._txn(lambda s: self._recover_batch(s, alive))
            total += ended
            if ended < _RECOVERY_BATCH:
                break
        async def forget_gone(session: AsyncSession) -> None:
            gone = await database_now(session) - timedelta(seconds=_INSTANCE_ROW_TTL_S)
            await session.execute(delete(dialer_instances).where(
                dialer_instances.c.heartbeat_at < gone))

        await self._txn(forget_gone)
        return total

    async def _recover_batch(self, session: AsyncSession,
                             alive: Callable[[AsyncSession], Awaitable[set[str]]]) -> int:
        return await self.calls.fail_live_calls(session, self.clock.now(), _RECOVERY_BATCH,
                                                owned=self.ownership.owns,
                                                alive=await alive(session))

    # ------------------------------------------------------------------ pacing
    async def tick(self) -> list[DialOrder]:
        """One pass: recovery, stale hopper entries, previews, then dial (the heartbeat
        has its own task)."""
        loop_time = asyncio.get_running_loop().time()
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
            monotonic = time.monotonic()
            # every live call of this process holds a trunk line until it ENDS (a connected
            # call too, though its task is done): counted in the books
            in_use = await self._txn(lambda s: self.calls.lines_in_use(s, self.instance_id))
            await self._txn(lambda s: self.previews.expire(s, now, owns))
            # preview calls take the trunk's tokens and lines like paced ones (the rest
            # wait for the next tick)
            trunk = self.pacer.trunk
            orders = await self._txn(lambda s: self.previews.place_requested(
                s, now, owns, self.instance_id,
                limit=min(trunk.available(monotonic, in_use), self.settings.max_dials_per_tick)))
            trunk.take(len(orders), monotonic)
            in_use += len(orders)

            async def running(session: AsyncSession) -> list[Row[Any]]:
                result = await session.execute(select(campaigns).where(
                    campaigns.c.state == CampaignState.RUNNING.value))
                return [r for r in result.all() if is_paced(r) and owns(r.campaign_id)]

            by_tenant: dict[str, list[Row[Any]]] = defaultdict(list)
            for row in await self._txn(running):
                by_tenant[row.tenant_id].append(row)
            self._forget({(t, r.campaign_id) for t, rows in by_tenant.items() for r in rows})
            outcomes: list[Outcome] = []
            for tenant, rows in self._fair_order(by_tenant):
                room = self.settings.max_dials_per_tick - len(orders)
                if room <= 0:
                    break
                placed, decided = await self._txn(functools.partial(
                    self.pacer.dial_tenant, tenant=tenant, running=rows, clock=self.clock,
                    monotonic=monotonic, lines_in_use=in_use, max_calls=room))
                in_use += len(placed)
                orders += placed
                outcomes += decided
            self.last_outcomes = outcomes
            return orders

    def _fair_order(self, by_tenant: dict[str, list[Row[Any]]]
                    ) -> list[tuple[str, list[Row[Any]]]]:
        """The tenants' passes, starting one tenant further each tick: tenants share the
        tick's dial budget and the trunk's tokens, so none is always served last."""
        tenants = sorted(by_tenant.items())
        if not tenants:
            return []
        start = self._rotation % len(tenants)
        self._rotation += 1
        return tenants[start:] + tenants[:start]

    def _forget(self, paced: set[tuple[str, str]]) -> None:
        """Drop what was learned of campaigns no longer paced here."""
        for _, campaign_id in self._paced - paced:
            forget_campaign(campaign_id)
        self.pacer.forget(paced)
        self._paced = paced

    async def follow(self, order: DialOrder) -> None:
        """Follow one placed call to its end (:meth:`CallFollower.follow`)."""
        await self.follower.follow(order)
