"""Abandon budgets from compliance, and the abandon accounting of their window.

Compliance publishes ``AbandonBudgetSetV1`` on its topic (the strictest rule of the
jurisdictions a campaign dials into); the dialer keeps the latest per campaign. The
window accounting counts, from the dialer's own ``calls`` table, the live answers and
abandons of the rolling window; where the rules count live people the answering-machine
detection took for machines (UK Ofcom), an estimate of them is added to both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import ConsumedEvent
from common.events.catalog import AbandonBudgetSetV1
from dialer.adapters.db import abandon_budgets, calls


@dataclass(frozen=True)
class Budget:
    """The abandon budget compliance set for one campaign."""

    max_abandon_rate: float
    window_s: int
    count_amd_misclassified: bool
    policy_version: str


@dataclass(frozen=True)
class WindowCounts:
    """Abandon accounting of one campaign over the last ``window_s`` seconds.

    ``misclassified``: estimated live people hung up on as machines (already included in
    ``live_answers`` and ``abandons`` when the budget counts them)."""

    live_answers: int
    abandons: int
    machines: int
    misclassified: int
    first_answer_at: datetime | None

    @property
    def rate(self) -> float:
        """Abandons per live answer (0 before any answer)."""
        return self.abandons / self.live_answers if self.live_answers else 0.0


# Where the budget counts AMD errors (UK), at least this share of machine verdicts is taken
# to be people whatever the campaign says (fail closed: the setting defaults to 0).
AMD_FALSE_POSITIVE_FLOOR = 0.05


def misclassified_people(machines: int, false_positive_rate: float) -> int:
    """Estimated live people among ``machines`` AMD machine verdicts, when a share
    ``false_positive_rate`` of those verdicts are people (rounded up: conservative)."""
    return math.ceil(false_positive_rate * machines - 1e-9) if machines else 0


async def on_budget_events(session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
    """Keep the latest ``AbandonBudgetSetV1`` per campaign (by its ``at``)."""
    latest: dict[tuple[str, str], AbandonBudgetSetV1] = {}
    for event in events:
        p = event.payload()
        if isinstance(p, AbandonBudgetSetV1):
            key = (event.envelope.tenantid, p.campaign_id)
            if key not in latest or p.at >= latest[key].at:
                latest[key] = p
    for (tenant, campaign_id), p in latest.items():
        current = (await session.execute(select(abandon_budgets.c.set_at).where(
            abandon_budgets.c.tenant_id == tenant,
            abandon_budgets.c.campaign_id == campaign_id))).scalar_one_or_none()
        values: dict[str, Any] = {
            "max_abandon_rate": p.max_abandon_rate, "window_s": p.window_s,
            "count_amd_misclassified": p.count_amd_misclassified,
            "jurisdictions": list(p.jurisdictions), "policy_version": p.policy_version,
            "set_at": p.at}
        if current is None:
            await session.execute(abandon_budgets.insert().values(
                tenant_id=tenant, campaign_id=campaign_id, **values))
        elif p.at >= current:
            await session.execute(abandon_budgets.update().where(
                abandon_budgets.c.tenant_id == tenant,
                abandon_budgets.c.campaign_id == campaign_id).values(**values))


async def budgets_of(session: AsyncSession, tenant_id: str,
                     campaign_ids: Sequence[str]) -> dict[str, Budget]:
    """The budgets compliance set for these campaigns (absent: none yet)."""
    if not campaign_ids:
        return {}
    rows = await session.execute(select(abandon_budgets).where(
        abandon_budgets.c.tenant_id == tenant_id,
        abandon_budgets.c.campaign_id.in_(campaign_ids)))
    return {r.campaign_id: Budget(r.max_abandon_rate, r.window_s, r.count_amd_misclassified,
                                  r.policy_version) for r in rows}


async def window_counts(session: AsyncSession, tenant_id: str, campaign_id: str, *,
                        now: datetime, budget: Budget,
                        false_positive_rate: float) -> WindowCounts:
    """Live answers, abandons and machine verdicts of the last ``budget.window_s`` s
    (with ``count_amd_misclassified``, the people estimated among the machine verdicts at
    ``false_positive_rate``, never below :data:`AMD_FALSE_POSITIVE_FLOOR`)."""
    since = now - timedelta(seconds=budget.window_s)
    human = and_(calls.c.answered_at.is_not(None),
                 func.coalesce(calls.c.outcome, "") != "machine")
    row = (await session.execute(
        select(func.count(case((human, 1))),
               func.count(case((calls.c.outcome == "abandoned", 1))),
               func.count(case((calls.c.outcome == "machine", 1))),
               func.min(calls.c.answered_at))
        .where(calls.c.tenant_id == tenant_id, calls.c.campaign_id == campaign_id,
               calls.c.answered_at >= since))).one()
    live, abandons, machines, first = int(row[0]), int(row[1]), int(row[2]), row[3]
    extra = (misclassified_people(machines, max(false_positive_rate, AMD_FALSE_POSITIVE_FLOOR))
             if budget.count_amd_misclassified else 0)
    return WindowCounts(live + extra, abandons + extra, machines, extra, first)
