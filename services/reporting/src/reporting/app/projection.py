"""The facts projection: ``calls`` and ``agents`` events → call facts and agent intervals.

A batch handler for :class:`common.consumer.ConsumerRunner`: the runner hands it each
poll's new events (duplicates already dropped) inside the transaction that also stores
the offsets, so a restart anywhere has no double effect. The handler folds the poll in
memory and writes it with one bulk upsert per table; the upserts are themselves
idempotent and order-free (see :mod:`reporting.domain.call_facts`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import ConsumedEvent
from common.events.catalog import AgentStateChangedV1
from reporting.adapters import fact_store
from reporting.domain.agent_intervals import AgentInterval, fold_state_changes
from reporting.domain.call_facts import (
    CALL_EVENT_CLASSES,
    CALL_FACT_EVENT_TYPES,
    CallPatch,
    call_patch,
    merge_patch,
)

AGENT_STATE_TYPE = AgentStateChangedV1.event_type
PROJECTED_TYPES = CALL_FACT_EVENT_TYPES | {AGENT_STATE_TYPE}


async def project_facts(session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
    """Project one poll of events (in per-partition order) into the fact tables."""
    patches: dict[tuple[str, str], CallPatch] = {}
    changes: dict[tuple[str, str], list[tuple[str, AgentStateChangedV1]]] = defaultdict(list)
    for event in events:
        if event.envelope.type not in PROJECTED_TYPES:
            continue  # other events of these topics are not facts of ours: skip unparsed
        tenant = event.envelope.tenantid
        payload = event.payload()
        if isinstance(payload, AgentStateChangedV1):
            changes[(tenant, payload.agent_id)].append((event.envelope.id, payload))
        elif isinstance(payload, CALL_EVENT_CLASSES):
            merge_patch(patches.setdefault((tenant, payload.call_id), {}), call_patch(payload))

    by_tenant: dict[str, list[str]] = defaultdict(list)
    for tenant, agent_id in changes:
        by_tenant[tenant].append(agent_id)
    for tenant, agent_ids in sorted(by_tenant.items()):
        still_open = await fact_store.open_intervals(session, tenant, agent_ids)
        open_by_agent: dict[str, list[AgentInterval]] = defaultdict(list)
        for interval in still_open:
            open_by_agent[interval.agent_id].append(interval)
        closed: list[AgentInterval] = []
        opened: list[AgentInterval] = []
        for agent_id in agent_ids:
            folded = fold_state_changes(open_by_agent[agent_id], changes[(tenant, agent_id)])
            closed += folded.closed
            opened += folded.opened
            for call_id, acw_ms in folded.wrap_up_ms_by_call().items():
                merge_patch(patches.setdefault((tenant, call_id), {}), {"acw_ms": acw_ms})
        await fact_store.close_intervals(session, tenant, closed)
        await fact_store.insert_intervals(session, tenant, opened)
    await fact_store.upsert_call_facts(session, patches)
