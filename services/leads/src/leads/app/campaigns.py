"""Projection of the ``campaigns`` topic: state, lists and retry rules of each campaign.

``running_since`` is when the campaign last entered ``running`` (the event's time); it
decides which running campaign owns a list shared by several (the longest running).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import ConsumedEvent
from common.events.catalog import CampaignStateChangedV1
from leads.adapters.db import campaigns
from leads.domain.lead import RetryPolicy

_UPDATE = update(campaigns).where(
    campaigns.c.tenant_id == bindparam("k_tenant"),
    campaigns.c.campaign_id == bindparam("k_campaign"),
).values(state=bindparam("state"), list_ids=bindparam("list_ids"),
         max_attempts=bindparam("max_attempts"), retry_delay_s=bindparam("retry_delay_s"),
         running_since=bindparam("running_since"), updated_at=bindparam("updated_at"))


async def project_campaigns(session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
    """Batch handler: fold the poll's campaign events into the ``campaigns`` table."""
    changes = [(ev, CampaignStateChangedV1.model_validate(ev.envelope.data)) for ev in events
               if ev.envelope.type == CampaignStateChangedV1.event_type]
    if not changes:
        return
    keys = {(ev.envelope.tenantid, p.campaign_id) for ev, p in changes}
    stored = await _load(session, keys)
    known = set(stored)
    for ev, p in changes:
        key = (ev.envelope.tenantid, p.campaign_id)
        before = stored.get(key)
        was_running = before is not None and before["state"] == "running"
        running_since = None
        if p.state == "running":
            running_since = before["running_since"] if was_running and before else ev.envelope.time
        stored[key] = {"state": p.state, "list_ids": list(p.list_ids),
                       "max_attempts": p.max_attempts, "retry_delay_s": p.retry_delay_s,
                       "running_since": running_since, "updated_at": ev.envelope.time}
    fresh = [{"tenant_id": t, "campaign_id": c, **v} for (t, c), v in stored.items()
             if (t, c) not in known]
    if fresh:
        await session.execute(insert(campaigns), fresh)
    changed = [{"k_tenant": t, "k_campaign": c, **v} for (t, c), v in stored.items()
               if (t, c) in known]
    if changed:
        await session.execute(_UPDATE, changed)


async def _load(session: AsyncSession,
                keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    result = await session.execute(select(campaigns).where(
        tuple_(campaigns.c.tenant_id, campaigns.c.campaign_id).in_(list(keys))))
    return {(r["tenant_id"], r["campaign_id"]): dict(r) for r in result.mappings()}


async def retry_policies(session: AsyncSession,
                         keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], RetryPolicy]:
    """Retry rules of the given (tenant, campaign) pairs; unknown campaigns are left out."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    stored = await _load(session, wanted)
    return {k: RetryPolicy(v["max_attempts"], v["retry_delay_s"]) for k, v in stored.items()}
