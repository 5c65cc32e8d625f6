"""Preview mode: an agent sees the next lead of one of its preview campaigns, then dials
or skips it; a preview left alone past the campaign's timeout gets its timeout action.

The API side (any dialer process) reserves a lead and records the agent's choice; the
pacing loop of the process that owns the campaign places a requested call (routed to that
agent on a live answer) and applies timeouts, so only the campaign's owner dials.
States: ``reserved`` -> ``dial_requested`` -> ``dialed`` | ``returned`` (the last-mile
check failed), or ``reserved`` -> ``skipped``. While a preview is open its agent is
reserved (``agents.reserved_call_id = <preview id>``): no other call goes to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import Conflict, NotFound
from dialer.adapters.db import agent_campaigns, agents, campaigns, hopper, previews
from dialer.app.calls import CallBook, CallSettings, DialOrder
from dialer.app.hopper import Hopper
from dialer.app.pacing import hopper_order
from dialer.domain.campaign import CampaignState, DialMode, PreviewTimeoutAction
from dialer.domain.dialing import ReturnReason, dnc_list_applies, last_mile_verdict

_BATCH = 200


class PreviewDesk:
    """Preview reservations, the agent's choices, timeouts and preview calls."""

    def __init__(self, hopper_: Hopper, call_book: CallBook) -> None:
        self.hopper = hopper_
        self.calls = call_book

    # ------------------------------------------------------------------ API
    async def reserve(self, session: AsyncSession, tenant_id: str, agent_id: str,
                      now: datetime) -> Row[Any] | None:
        """Reserve the next lead of the agent's running preview campaigns (highest priority
        first, each in its lead order); None when none waits. 404 for an unknown agent,
        409 when the agent is not ready or already holds a preview or a call."""
        agent = (await session.execute(select(agents).where(
            agents.c.tenant_id == tenant_id, agents.c.agent_id == agent_id))).first()
        if agent is None:
            raise NotFound(f"agent {agent_id} not found")
        if agent.state != "ready":
            raise Conflict(f"agent {agent_id} is {agent.state}; a preview needs a ready agent",
                           details={"agent_state": agent.state})
        if agent.reserved_call_id is not None:
            raise Conflict(f"agent {agent_id} already holds a preview or a call",
                           details={"reserved_for": agent.reserved_call_id})
        candidates = await session.execute(
            select(campaigns).join(agent_campaigns,
                                   (agent_campaigns.c.tenant_id == campaigns.c.tenant_id)
                                   & (agent_campaigns.c.campaign_id == campaigns.c.campaign_id))
            .where(campaigns.c.tenant_id == tenant_id, agent_campaigns.c.agent_id == agent_id,
                   campaigns.c.state == CampaignState.RUNNING.value,
                   campaigns.c.dial_mode == DialMode.PREVIEW.value)
            .order_by(campaigns.c.priority.desc(), campaigns.c.campaign_id))
        for campaign in candidates.all():
            entry = (await session.execute(
                select(hopper).where(hopper.c.tenant_id == tenant_id,
                                     hopper.c.campaign_id == campaign.campaign_id,
                                     hopper.c.valid_until > now)
                .order_by(*hopper_order(campaign.lead_ordering)).limit(1))).first()
            if entry is None:
                continue
            taken = await session.execute(hopper.delete().where(hopper.c.id == entry.id))
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                continue
            preview_id = f"preview-{uuid.uuid4()}"
            held = await session.execute(update(agents).where(
                agents.c.tenant_id == tenant_id, agents.c.agent_id == agent_id,
                agents.c.reserved_call_id.is_(None)).values(reserved_call_id=preview_id))
            if held.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(f"agent {agent_id} was given a call meanwhile; retry")
            await session.execute(insert(previews).values(
                tenant_id=tenant_id, preview_id=preview_id, campaign_id=campaign.campaign_id,
                agent_id=agent_id, lead_id=entry.lead_id, list_id=entry.list_id,
                attempt=entry.attempt, phone_e164=entry.phone_e164,
                valid_until=entry.valid_until, decision_id=entry.decision_id,
                state="reserved", reserved_at=now,
                expires_at=now + timedelta(seconds=campaign.preview_timeout_s)))
            return await self.get(session, tenant_id, preview_id)
        return None

    async def get(self, session: AsyncSession, tenant_id: str, preview_id: str) -> Row[Any]:
        """The tenant's preview, or 404."""
        row = (await session.execute(select(previews).where(
            previews.c.tenant_id == tenant_id, previews.c.preview_id == preview_id))).first()
        if row is None:
            raise NotFound(f"preview {preview_id} not found")
        return row

    async def _open(self, session: AsyncSession, tenant_id: str, preview_id: str) -> Row[Any]:
        row = await self.get(session, tenant_id, preview_id)
        if row.state != "reserved":
            raise Conflict(f"preview {preview_id} is {row.state}; only a reserved preview can "
                           "be dialed or skipped", details={"current_state": row.state})
        return row

    async def request_dial(self, session: AsyncSession, tenant_id: str,
                           preview_id: str) -> Row[Any]:
        """The agent dials: the campaign's pacing loop places the call within a tick."""
        row = await self._open(session, tenant_id, preview_id)
        if not await self._move(session, row, "dial_requested"):
            raise _changed(preview_id)
        return await self.get(session, tenant_id, preview_id)

    async def skip(self, session: AsyncSession, tenant_id: str, preview_id: str,
                   now: datetime, outcome: str = "skipped") -> Row[Any]:
        """The agent skips: the lead goes back to leads (``preview_skipped``; leads waits
        the retry delay) and the agent is free."""
        row = await self._open(session, tenant_id, preview_id)
        if not await self._finish(session, row, "skipped", outcome,
                                  ReturnReason.PREVIEW_SKIPPED, now):
            raise _changed(preview_id)
        return await self.get(session, tenant_id, preview_id)

    # ------------------------------------------------------------------ pacing loop
    async def expire(self, session: AsyncSession, now: datetime,
                     owned: Callable[[str], bool]) -> int:
        """Apply the timeout action to reserved previews past their deadline (``dial`` only
        while the campaign runs; else the preview is skipped). A preview changed
        concurrently (the agent acted) is left to that change."""
        due = await session.execute(
            select(previews, campaigns.c.preview_timeout_action,
                   campaigns.c.state.label("campaign_state"))
            .join(campaigns, (campaigns.c.tenant_id == previews.c.tenant_id)
                  & (campaigns.c.campaign_id == previews.c.campaign_id))
            .where(previews.c.state == "reserved", previews.c.expires_at <= now)
            .order_by(previews.c.expires_at).limit(_BATCH))
        applied = 0
        for row in due.all():
            if not owned(row.campaign_id):
                continue
            if (row.preview_timeout_action == PreviewTimeoutAction.DIAL.value
                    and row.campaign_state == CampaignState.RUNNING.value):
                applied += await self._move(session, row, "dial_requested",
                                            outcome="timeout_dialed")
            else:
                applied += await self._finish(session, row, "skipped", "timeout_skipped",
                                              ReturnReason.PREVIEW_SKIPPED, now)
        return applied

    async def place_requested(self, session: AsyncSession, now: datetime,
                              owned: Callable[[str], bool], owner_id: str | None, *,
                              limit: int = _BATCH) -> list[DialOrder]:
        """Place the calls agents asked for, after the last-mile check; the lead of a
        campaign no longer running goes back (``campaign_stopped``) undialed. At most
        ``limit`` calls (the trunk's room); the other requests wait for the next pass."""
        if limit <= 0:
            return []
        requested = await session.execute(
            select(previews, campaigns.c.ring_timeout_s, campaigns.c.caller_id,
                   campaigns.c.amd_action, campaigns.c.amd_message,
                   campaigns.c.abandon_message, campaigns.c.state.label("campaign_state")).join(
                campaigns, (campaigns.c.tenant_id == previews.c.tenant_id)
                & (campaigns.c.campaign_id == previews.c.campaign_id))
            .where(previews.c.state == "dial_requested")
            .order_by(previews.c.reserved_at).limit(min(limit, _BATCH)))
        orders: list[DialOrder] = []
        for row in requested.all():
            if not owned(row.campaign_id):
                continue
            if row.campaign_state != CampaignState.RUNNING.value:
                await self._finish(session, row, "returned", "campaign_not_running",
                                   ReturnReason.CAMPAIGN_STOPPED, now)
                continue
            lists = await self.hopper.dnc_lists(session, row.tenant_id, [row.phone_e164])
            on_dnc = any(dnc_list_applies(lst, row.campaign_id)
                         for lst in lists.get(row.phone_e164, ()))
            verdict = last_mile_verdict(valid_until=row.valid_until, now=now, on_dnc=on_dnc)
            if verdict is not None:
                await self._finish(session, row, "returned", verdict.value, verdict, now)
                continue
            if not await self._move(session, row, "dialed"):
                continue
            order = await self.calls.record_dial(session, row, now,
                                                 settings=CallSettings.of(row),
                                                 owner_id=owner_id, routed_agent_id=row.agent_id)
            await session.execute(update(previews).where(
                previews.c.tenant_id == row.tenant_id,
                previews.c.preview_id == row.preview_id).values(call_id=order.call_id))
            await session.execute(update(agents).where(
                agents.c.tenant_id == row.tenant_id, agents.c.agent_id == row.agent_id,
                agents.c.reserved_call_id == row.preview_id).values(
                    reserved_call_id=order.call_id))
            orders.append(order)
        return orders

    # ------------------------------------------------------------------ helpers
    async def _move(self, session: AsyncSession, row: Row[Any], state: str,
                    outcome: str | None = None) -> bool:
        """Conditional state change (from the state read): False if another won."""
        values: dict[str, Any] = {"state": state}
        if outcome is not None:
            values["outcome"] = outcome
        moved = await session.execute(update(previews).where(
            previews.c.tenant_id == row.tenant_id, previews.c.preview_id == row.preview_id,
            previews.c.state == row.state).values(**values))
        return bool(moved.rowcount == 1)  # type: ignore[attr-defined]

    async def _finish(self, session: AsyncSession, row: Row[Any], state: str, outcome: str,
                      reason: ReturnReason, now: datetime) -> bool:
        """End a preview without a call: the lead goes back, the agent is free. False
        (nothing done) if another change won."""
        if not await self._move(session, row, state, outcome):
            return False
        await session.execute(update(agents).where(
            agents.c.tenant_id == row.tenant_id, agents.c.agent_id == row.agent_id,
            agents.c.reserved_call_id == row.preview_id).values(reserved_call_id=None))
        await self.hopper.emit_return(session, row, reason, now)
        return True


def _changed(preview_id: str) -> Conflict:
    return Conflict(f"preview {preview_id} changed concurrently; retry")
