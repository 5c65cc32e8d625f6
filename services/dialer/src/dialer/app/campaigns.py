"""Campaign commands (create, start, pause, stop) and the live status, for the API.

Each campaign is a stream ``campaign-<uuid>`` of ``CampaignStateChangedV1`` events; the
``campaigns`` row is its current state, updated in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from common.clock import Clock
from common.errors import Conflict, NotFound, Unprocessable
from common.events.catalog import CampaignStateChangedV1
from common.eventstore import ConcurrencyError, EventStore
from dialer.adapters.db import abandon_budgets, agent_campaigns, agents, calls, campaigns
from dialer.app.hopper import hopper_depth
from dialer.domain.campaign import (
    CampaignCommand,
    CampaignSettings,
    CampaignState,
    InvalidCampaign,
    InvalidTransition,
    next_state,
)
from dialer.domain.dialing import LIVE_STATES, CallState


@dataclass(frozen=True)
class CampaignStatus:
    """Live counters of one campaign."""

    state: str
    hopper_depth: int
    calls_ringing: int
    calls_waiting_for_agent: int
    calls_connected: int
    ready_agents: int


SETTING_NAMES = tuple(f.name for f in fields(CampaignSettings))


def settings_of(row: Row[Any]) -> CampaignSettings:
    """The settings stored on a ``campaigns`` row."""
    values = {name: row._mapping[name] for name in SETTING_NAMES}
    return CampaignSettings(**values | {"list_ids": tuple(values["list_ids"])})


def _columns(settings: CampaignSettings) -> dict[str, Any]:
    values = {name: getattr(settings, name) for name in SETTING_NAMES}
    return values | {"list_ids": list(settings.list_ids)}


def _event(settings: CampaignSettings, campaign_id: str, state: str) -> CampaignStateChangedV1:
    return CampaignStateChangedV1(
        campaign_id=campaign_id, name=settings.name, state=state,
        list_ids=list(settings.list_ids), dial_mode=settings.dial_mode,
        max_attempts=settings.max_attempts, retry_delay_s=settings.retry_delay_s,
        caller_id=settings.caller_id, product=settings.product,
        requires_consent=settings.requires_consent)


def _validated(make: Any, *args: Any, **kwargs: Any) -> Any:
    """``make(*args, **kwargs)``; an :class:`InvalidCampaign` becomes a 422."""
    try:
        return make(*args, **kwargs)
    except InvalidCampaign as exc:
        raise Unprocessable(str(exc)) from None


class CampaignDesk:
    """Campaign use cases for one tenant's requests."""

    def __init__(self, event_store: EventStore, clock: Clock) -> None:
        self.events = event_store
        self.clock = clock

    async def create(self, session: AsyncSession, tenant_id: str, **fields: Any) -> Row[Any]:
        """Create a campaign in state ``created``; invalid settings are a 422."""
        settings = _validated(CampaignSettings, **fields)
        campaign_id = f"campaign-{uuid.uuid4()}"
        now = self.clock.now()
        await session.execute(insert(campaigns).values(
            tenant_id=tenant_id, campaign_id=campaign_id, state=CampaignState.CREATED.value,
            version=1, created_at=now, updated_at=now, **_columns(settings)))
        await self.events.append(session, tenant_id=tenant_id, stream_id=campaign_id,
                                 expected_version=0,
                                 payloads=[_event(settings, campaign_id, "created")])
        return await self.get(session, tenant_id, campaign_id)

    async def get(self, session: AsyncSession, tenant_id: str, campaign_id: str) -> Row[Any]:
        """The tenant's campaign, or 404 (also when it belongs to another tenant)."""
        result = await session.execute(select(campaigns).where(
            campaigns.c.tenant_id == tenant_id, campaigns.c.campaign_id == campaign_id))
        row = result.first()
        if row is None:
            raise NotFound(f"campaign {campaign_id} not found")
        return row

    async def update_settings(self, session: AsyncSession, tenant_id: str, campaign_id: str,
                              changes: dict[str, Any]) -> Row[Any]:
        """Change settings (validated as a whole: 422); a stopped campaign is a 409.

        The new settings apply from the next pacing decision."""
        row = await self.get(session, tenant_id, campaign_id)
        if row.state == CampaignState.STOPPED.value:
            raise Conflict(f"campaign {campaign_id} is stopped; its settings are final",
                           details={"current_state": row.state})
        settings = _validated(settings_of(row).updated, **changes)
        if row.state != CampaignState.CREATED.value:  # running or paused: stays startable
            _validated(settings.check_startable)
        if "target_abandon_rate" in changes:
            await self._check_target(session, tenant_id, campaign_id, settings)
        return await self._write(session, row, CampaignState(row.state), settings)

    async def _check_target(self, session: AsyncSession, tenant_id: str, campaign_id: str,
                            settings: CampaignSettings) -> None:
        """A campaign target may only tighten the abandon budget compliance set."""
        budget = (await session.execute(select(abandon_budgets.c.max_abandon_rate).where(
            abandon_budgets.c.tenant_id == tenant_id,
            abandon_budgets.c.campaign_id == campaign_id))).scalar_one_or_none()
        target = settings.target_abandon_rate
        if budget is not None and target is not None and target > budget:
            raise Unprocessable(
                f"target_abandon_rate {target:g} is above the abandon budget compliance set "
                f"for this campaign ({budget:g}); a campaign target may only tighten it")

    async def apply(self, session: AsyncSession, tenant_id: str, campaign_id: str,
                    command: CampaignCommand) -> Row[Any]:
        """Start, pause or stop; a command the current state does not accept is a 409,
        starting without a caller ID a 422."""
        row = await self.get(session, tenant_id, campaign_id)
        try:
            target = next_state(CampaignState(row.state), command)
        except InvalidTransition as exc:
            raise Conflict(str(exc), details={
                "current_state": exc.current.value,
                "expected_states": sorted(s.value for s in exc.expected)}) from None
        settings = settings_of(row)
        if target is CampaignState.RUNNING:
            _validated(settings.check_startable)
        return await self._write(session, row, target, settings)

    async def _write(self, session: AsyncSession, row: Row[Any], state: CampaignState,
                     settings: CampaignSettings) -> Row[Any]:
        """Store the new state and settings with their ``CampaignStateChangedV1``."""
        tenant_id, campaign_id = row.tenant_id, row.campaign_id
        changed = await session.execute(
            update(campaigns)
            .where(campaigns.c.tenant_id == tenant_id, campaigns.c.campaign_id == campaign_id,
                   campaigns.c.version == row.version)
            .values(state=state.value, version=row.version + 1, updated_at=self.clock.now(),
                    **_columns(settings)))
        try:
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise ConcurrencyError(campaign_id)
            await self.events.append(session, tenant_id=tenant_id, stream_id=campaign_id,
                                     expected_version=row.version,
                                     payloads=[_event(settings, campaign_id, state.value)])
        except ConcurrencyError:
            raise Conflict(f"campaign {campaign_id} changed concurrently; retry the request",
                           details={"current_state": row.state}) from None
        return await self.get(session, tenant_id, campaign_id)

    async def status(self, session: AsyncSession, tenant_id: str, campaign_id: str) -> CampaignStatus:
        """Hopper depth, calls by stage and ready (unreserved) agents of the campaign."""
        row = await self.get(session, tenant_id, campaign_id)
        by_state: dict[str, int] = dict((await session.execute(
            select(calls.c.state, func.count()).where(
                calls.c.tenant_id == tenant_id, calls.c.campaign_id == campaign_id,
                calls.c.state.in_([s.value for s in LIVE_STATES]))
            .group_by(calls.c.state))).all())
        ready = await session.execute(
            select(func.count()).select_from(agents.join(
                agent_campaigns, (agent_campaigns.c.tenant_id == agents.c.tenant_id)
                & (agent_campaigns.c.agent_id == agents.c.agent_id)))
            .where(agents.c.tenant_id == tenant_id, agent_campaigns.c.campaign_id == campaign_id,
                   agents.c.state == "ready", agents.c.reserved_call_id.is_(None)))
        return CampaignStatus(
            state=row.state, hopper_depth=await hopper_depth(session, tenant_id, campaign_id),
            calls_ringing=by_state.get(CallState.DIALING.value, 0)
            + by_state.get(CallState.RINGING.value, 0),
            calls_waiting_for_agent=by_state.get(CallState.WAITING.value, 0),
            calls_connected=by_state.get(CallState.CONNECTED.value, 0),
            ready_agents=int(ready.scalar_one()))
