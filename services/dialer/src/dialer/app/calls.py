"""Call lifecycle: place, progress, route to an agent, abandon, end, recover.

Each function runs in the caller's transaction and appends the call's events together
with the ``calls`` row change; a change is applied only from the state it expects (and
the stream version it read), so every dialed call reaches exactly one ``CallEndedV1``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from common.events.catalog import (
    CallAbandonedV1,
    CallAnsweredV1,
    CallConnectedV1,
    CallDialedV1,
    CallEndedV1,
    EventPayload,
)
from common.eventstore import EventStore
from dialer.adapters.db import agent_campaigns, agents, calls, hopper
from dialer.adapters.telephony import Progress
from dialer.domain.dialing import LIVE_STATES, CallState, effective_ring_timeout

log = logging.getLogger(__name__)

# Seconds after which a live call without an owner (placed before dialer_0002) is orphaned:
# longer than any call (the carrier drops a leg after 4 h).
LEGACY_CALL_GRACE_S = 4 * 3600.0
_ENDED_BY_PROGRESS = {Progress.NO_ANSWER: "no_answer", Progress.BUSY: "busy",
                      Progress.FAILED: "failed"}


def _ms(start: datetime | None, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() * 1000)) if start else 0


@dataclass(frozen=True)
class CallSettings:
    """What the gateway needs from the campaign to place and end one call."""

    ring_timeout_s: float = 25.0
    caller_id: str | None = None
    amd_action: str = "hang_up"
    amd_message: str | None = None
    abandon_message: str | None = None

    @classmethod
    def of(cls, campaign: Row[Any]) -> CallSettings:
        """The settings of a ``campaigns`` row."""
        return cls(effective_ring_timeout(campaign.ring_timeout_s), campaign.caller_id,
                   campaign.amd_action, campaign.amd_message, campaign.abandon_message)


@dataclass(frozen=True)
class DialOrder:
    """A call placed in the database, to be handed to the gateway after commit.

    ``phone_e164`` lives only in memory here: never log it."""

    tenant_id: str
    call_id: str
    phone_e164: str
    settings: CallSettings = CallSettings()


class CallBook:
    """The call operations, bound to the event store they append to."""

    def __init__(self, event_store: EventStore) -> None:
        self.events = event_store

    async def place(self, session: AsyncSession, entry: Row[Any], now: datetime, *,
                    settings: CallSettings, owner_id: str | None = None) -> DialOrder | None:
        """Take a hopper entry out and record the call attempt (``CallDialedV1``).

        None if the entry already left the hopper (a concurrent DNC removal won)."""
        taken = await session.execute(delete(hopper).where(hopper.c.id == entry.id))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await self.record_dial(session, entry, now, settings=settings, owner_id=owner_id)

    async def record_dial(self, session: AsyncSession, lead: Row[Any], now: datetime, *,
                          settings: CallSettings, owner_id: str | None,
                          routed_agent_id: str | None = None) -> DialOrder:
        """Record a call attempt for a lead already taken out of the hopper (a hopper
        entry or a preview); ``routed_agent_id``: the agent a live answer goes to."""
        call_id = f"call-{uuid.uuid4()}"
        await session.execute(insert(calls).values(
            tenant_id=lead.tenant_id, call_id=call_id, campaign_id=lead.campaign_id,
            lead_id=lead.lead_id, list_id=lead.list_id, attempt=lead.attempt,
            state=CallState.DIALING, version=1, dialed_at=now, owner_id=owner_id,
            routed_agent_id=routed_agent_id))
        await self.events.append(
            session, tenant_id=lead.tenant_id, stream_id=call_id, expected_version=0,
            payloads=[CallDialedV1(call_id=call_id, campaign_id=lead.campaign_id,
                                   lead_id=lead.lead_id, at=now, attempt=lead.attempt)])
        return DialOrder(lead.tenant_id, call_id, lead.phone_e164, settings)

    async def lines_in_use(self, session: AsyncSession, owner_id: str) -> int:
        """Live calls (ringing, waiting or connected: each holds a trunk line) that the
        dialer process ``owner_id`` placed, in every tenant."""
        return int(await session.scalar(select(func.count()).select_from(calls).where(
            calls.c.owner_id == owner_id,
            calls.c.state.in_([s.value for s in LIVE_STATES]))) or 0)

    async def load(self, session: AsyncSession, tenant_id: str, call_id: str) -> Row[Any] | None:
        result = await session.execute(
            select(calls).where(calls.c.tenant_id == tenant_id, calls.c.call_id == call_id))
        return result.first()

    async def _advance(self, session: AsyncSession, call: Row[Any],
                       payloads: Sequence[EventPayload], **changes: Any) -> bool:
        """Append ``payloads`` and apply ``changes`` if the call is still as read."""
        result = await session.execute(
            update(calls)
            .where(calls.c.tenant_id == call.tenant_id, calls.c.call_id == call.call_id,
                   calls.c.version == call.version, calls.c.state == call.state)
            .values(version=call.version + len(payloads), **changes))
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        if payloads:
            await self.events.append(session, tenant_id=call.tenant_id, stream_id=call.call_id,
                                     expected_version=call.version, payloads=payloads)
        return True

    def _ids(self, call: Row[Any], now: datetime) -> dict[str, Any]:
        return {"call_id": call.call_id, "campaign_id": call.campaign_id,
                "lead_id": call.lead_id, "at": now}

    async def progress(self, session: AsyncSession, tenant_id: str, call_id: str,
                       progress: Progress, now: datetime) -> CallState | None:
        """Apply what the gateway reported; returns the call's new state (None: ignored).

        A live answer is routed at once if an agent is ready; otherwise the call waits.
        """
        call = await self.load(session, tenant_id, call_id)
        if call is None or call.state not in (CallState.DIALING, CallState.RINGING):
            return None
        ids = self._ids(call, now)
        ring_ms = _ms(call.dialed_at, now)
        if progress is Progress.RINGING:
            ok = await self._advance(session, call, [], state=CallState.RINGING)
            return CallState.RINGING if ok else None
        if progress is Progress.ANSWERED_MACHINE:
            ok = await self._advance(
                session, call,
                [CallAnsweredV1(**ids, answered_by="machine"),
                 CallEndedV1(**ids, outcome="machine", ring_ms=ring_ms)],
                state=CallState.ENDED, answered_at=now, ended_at=now, ring_ms=ring_ms,
                outcome="machine")
            if ok:
                await self._release(session, call)
            return CallState.ENDED if ok else None
        if progress is Progress.ANSWERED_HUMAN:
            if not await self._advance(session, call, [CallAnsweredV1(**ids, answered_by="human")],
                                       state=CallState.WAITING, answered_at=now, ring_ms=ring_ms):
                return None
            routed = await self.route(session, tenant_id, call_id, now)
            return CallState.CONNECTED if routed else CallState.WAITING
        outcome = _ENDED_BY_PROGRESS[progress]
        ok = await self._advance(session, call, [CallEndedV1(**ids, outcome=outcome,
                                                             ring_ms=ring_ms)],
                                 state=CallState.ENDED, ended_at=now, ring_ms=ring_ms,
                                 outcome=outcome)
        if ok:
            await self._release(session, call)
        return CallState.ENDED if ok else None

    async def route(self, session: AsyncSession, tenant_id: str, call_id: str,
                    now: datetime, in_time: Callable[[], bool] = lambda: True) -> str | None:
        """Connect a waiting live answer to the longest-idle ready agent of its campaign.

        Agents already reserved for a call are skipped; the reservation is a conditional
        update, so two answers never take the same agent. Returns the agent id or None.
        ``in_time``: whether the abandon threshold still allows connecting (checked after
        the reads, just before the writes): past it the call is left to be abandoned.
        """
        call = await self.load(session, tenant_id, call_id)
        if call is None or call.state != CallState.WAITING:
            return None
        if call.routed_agent_id is not None:
            return await self._route_to_reserved(session, call, now, in_time)
        candidates = await session.execute(
            select(agents.c.agent_id)
            .join(agent_campaigns, (agent_campaigns.c.tenant_id == agents.c.tenant_id)
                  & (agent_campaigns.c.agent_id == agents.c.agent_id))
            .where(agents.c.tenant_id == tenant_id, agent_campaigns.c.campaign_id == call.campaign_id,
                   agents.c.state == "ready", agents.c.reserved_call_id.is_(None))
            .order_by(agents.c.ready_since, agents.c.agent_id)
            .limit(5))
        for agent_id in candidates.scalars().all():
            if not in_time():
                return None
            reserved = await session.execute(
                update(agents)
                .where(agents.c.tenant_id == tenant_id, agents.c.agent_id == agent_id,
                       agents.c.state == "ready", agents.c.reserved_call_id.is_(None))
                .values(reserved_call_id=call_id))
            if reserved.rowcount != 1:  # type: ignore[attr-defined]
                continue
            connected = await self._advance(session, call, [CallConnectedV1(
                **self._ids(call, now), agent_id=agent_id, wait_ms=_ms(call.answered_at, now))],
                state=CallState.CONNECTED, connected_at=now, agent_id=agent_id)
            if not connected:  # the call moved on meanwhile: give the agent back
                await session.execute(update(agents).where(
                    agents.c.tenant_id == tenant_id, agents.c.agent_id == agent_id,
                    agents.c.reserved_call_id == call_id).values(reserved_call_id=None))
                return None
            return str(agent_id)
        return None

    async def abandon(self, session: AsyncSession, tenant_id: str, call_id: str,
                      now: datetime) -> bool:
        """No agent within the abandon threshold: the gateway plays the legally required
        abandon message (identification and opt-out) and hangs up; the call ends."""
        call = await self.load(session, tenant_id, call_id)
        if call is None or call.state != CallState.WAITING:
            return False
        ids = self._ids(call, now)
        ok = await self._advance(
            session, call,
            [CallAbandonedV1(**ids, wait_ms=_ms(call.answered_at, now)),
             CallEndedV1(**ids, outcome="abandoned", ring_ms=call.ring_ms or 0)],
            state=CallState.ENDED, ended_at=now, outcome="abandoned")
        if ok:
            await self._release(session, call)
        return ok

    async def _route_to_reserved(self, session: AsyncSession, call: Row[Any], now: datetime,
                                 in_time: Callable[[], bool]) -> str | None:
        """A preview call goes to the agent who dialed it (reserved for it at dial time)
        if that agent is still logged in."""
        agent_id = (await session.execute(select(agents.c.agent_id).where(
            agents.c.tenant_id == call.tenant_id, agents.c.agent_id == call.routed_agent_id,
            agents.c.reserved_call_id == call.call_id,
            agents.c.state != "logged_out"))).scalar_one_or_none()
        if agent_id is None or not in_time():  # the agent is gone: the call abandons
            return None
        connected = await self._advance(session, call, [CallConnectedV1(
            **self._ids(call, now), agent_id=agent_id, wait_ms=_ms(call.answered_at, now))],
            state=CallState.CONNECTED, connected_at=now, agent_id=agent_id)
        return str(agent_id) if connected else None

    async def _release(self, session: AsyncSession, call: Row[Any]) -> None:
        """Free the agent reserved for ``call`` (connected to it, or waiting for a preview
        call it dialed)."""
        if call.agent_id is None and call.routed_agent_id is None:
            return
        await session.execute(
            update(agents)
            .where(agents.c.tenant_id == call.tenant_id,
                   agents.c.agent_id.in_({a for a in (call.agent_id, call.routed_agent_id) if a}),
                   agents.c.reserved_call_id == call.call_id)
            .values(reserved_call_id=None))

    async def end(self, session: AsyncSession, call: Row[Any], outcome: str,
                  now: datetime) -> bool:
        """End a live call (``completed`` by the agent, or ``failed``) and free its agent.

        A live answer still waiting for an agent ends as ``abandoned`` whatever ``outcome``
        says (a person answered and nobody took the call: the abandon window counts it)."""
        if call.state == CallState.WAITING:
            return await self.abandon(session, call.tenant_id, call.call_id, now)
        if call.state not in LIVE_STATES:
            return False
        talk_ms = _ms(call.connected_at, now) if call.state == CallState.CONNECTED else 0
        ring_ms = call.ring_ms if call.ring_ms is not None else _ms(call.dialed_at, now)
        ok = await self._advance(
            session, call,
            [CallEndedV1(**self._ids(call, now), outcome=outcome, ring_ms=ring_ms,
                         talk_ms=talk_ms, agent_id=call.agent_id)],
            state=CallState.ENDED, ended_at=now, ring_ms=ring_ms, outcome=outcome)
        if ok:
            await self._release(session, call)
        return ok

    async def fail_live_calls(self, session: AsyncSession, now: datetime, limit: int, *,
                              owned: Callable[[str], bool],
                              alive: Collection[str]) -> int:
        """End up to ``limit`` live calls of campaigns ``owned`` here whose follower is no
        longer ``alive`` (its process died with the gateway legs), see :meth:`end_live`.

        A call without an owner was placed by a dialer older than ``owner_id`` (a rolling
        upgrade): it is ended only once older than ``LEGACY_CALL_GRACE_S``, by which time
        its own process has ended it if it still runs."""
        legacy = and_(calls.c.owner_id.is_(None),
                      calls.c.dialed_at < now - timedelta(seconds=LEGACY_CALL_GRACE_S))
        orphaned = and_(calls.c.state.in_([s.value for s in LIVE_STATES]),
                        or_(legacy, calls.c.owner_id.not_in(list(alive))))
        campaigns_ = await session.execute(
            select(calls.c.tenant_id, calls.c.campaign_id).where(orphaned).distinct())
        ended = 0
        for tenant_id, campaign_id in campaigns_.all():
            if not owned(campaign_id) or ended >= limit:
                continue
            ended += await self.end_live(session, and_(
                orphaned, calls.c.tenant_id == tenant_id, calls.c.campaign_id == campaign_id),
                now, limit - ended)
        if ended:
            log.warning("ended %d calls left live by a dialer that is gone", ended)
        return ended

    async def end_live(self, session: AsyncSession, where: ColumnElement[bool],
                       now: datetime, limit: int) -> int:
        """End up to ``limit`` live calls matching ``where`` whose leg is gone (their
        follower died): ``failed``, a waiting live answer ``abandoned``."""
        result = await session.execute(select(calls).where(
            where, calls.c.state.in_([s.value for s in LIVE_STATES])).limit(limit))
        ended = 0
        for call in result.all():
            ended += await self.end(session, call, "failed", now)
        return ended
