"""The per-campaign abandon-rate budget published for the dialer (``abandon_budget_set``).

When a campaign is created or started no lead is known yet, so the budget is the
strictest over every jurisdiction pack loaded (fail closed). Once screening has seen the
campaign's leads, it is the strictest over the jurisdictions seen so far, re-published
whenever a new jurisdiction changes it.

Several rules combine into one budget as (lowest rate, shortest window, AMD estimate if
any rule counts it). Keeping a rate over every rolling window of length ``w`` keeps it
over every longer window too (a longer window is a union of shorter ones, and a ratio of
sums never exceeds the largest ratio), so the shortest window at the lowest rate honours
every rule at once; when rates tie the shorter window is the stricter. A calendar month
counts as 28 days, its shortest length. Jurisdictions without a rule (JP, FR) add none; if
no jurisdiction seen has one, the budget in force stays (never an unlimited budget).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from common.events.catalog import AbandonBudgetSetV1
from common.eventstore import EventStore
from compliance.adapters.facts_tables import campaign_budgets, dialect_insert
from compliance.domain.effective import EffectivePolicy
from compliance.domain.periods import Period
from compliance.domain.policy import PolicyCatalog

_HOUR_S = 3600
_DAY_S = 24 * _HOUR_S
_SHORTEST_MONTH_S = 28 * _DAY_S

CampaignKey = tuple[str, str]
"""(tenant_id, campaign_id)."""


@dataclass(frozen=True)
class Budget:
    """One combined budget: rate (abandons per live answer), rolling window (seconds)."""

    max_abandon_rate: float
    window_s: int
    count_amd_misclassified: bool
    jurisdictions: tuple[str, ...]
    policy_version: str

    def same_limits(self, other: Budget) -> bool:
        """Whether the dialer would pace the same under ``other``."""
        return (self.max_abandon_rate, self.window_s, self.count_amd_misclassified) == (
            other.max_abandon_rate, other.window_s, other.count_amd_misclassified)


def period_seconds(period: Period) -> int:
    """Length of ``period`` in seconds; a month counts as 28 days (the strictest)."""
    return period.hours * _HOUR_S + period.days * _DAY_S + period.months * _SHORTEST_MONTH_S


def combine(policy: EffectivePolicy, jurisdictions: Iterable[str]) -> Budget | None:
    """The single budget honouring every abandonment rule of ``policy`` (None: no rule)."""
    rules = policy.abandonment
    if not rules:
        return None
    return Budget(
        max_abandon_rate=min(r.max_rate for r in rules),
        window_s=min(period_seconds(r.period) for r in rules),
        count_amd_misclassified=any(r.counts_amd_misclassified for r in rules),
        jurisdictions=tuple(sorted(set(jurisdictions))),
        policy_version=policy.version,
    )


def budget_stream_id(campaign_id: str) -> str:
    """The stream of a campaign's published budgets."""
    return f"abandon-budget-{campaign_id}"


class BudgetKeeper:
    """Computes, stores and publishes (event store → outbox) campaign budgets."""

    def __init__(self, catalog: PolicyCatalog, store: EventStore) -> None:
        self._catalog = catalog
        self._store = store
        self._all_codes = sorted(
            p.jurisdiction for p in (catalog.pack(i) for i in catalog.pack_ids)
            if p.kind == "jurisdiction" and p.jurisdiction is not None)

    def budget(self, tenant_id: str, campaign_id: str, seen: Iterable[str]) -> Budget | None:
        """Strictest budget over ``seen`` (every loaded jurisdiction when empty), with the
        tenant's and campaign's overlays."""
        codes = sorted(set(seen)) or self._all_codes
        policy = self._catalog.effective_policy(codes, tenant_id, campaign_id)
        return combine(policy, codes)

    async def on_campaign_started(self, session: AsyncSession, tenant_id: str,
                                  campaign_id: str, now: datetime) -> None:
        """Publish the campaign's budget (created / running): the strictest of the
        jurisdictions seen so far, of every pack when none is."""
        rows = await self._rows(session, [(tenant_id, campaign_id)])
        row = rows.get((tenant_id, campaign_id))
        seen = list(row.seen_jurisdictions) if row is not None else []
        budget = self.budget(tenant_id, campaign_id, seen)
        if budget is None and seen:
            budget = self.budget(tenant_id, campaign_id, [])
        if budget is not None:
            await self._publish(session, tenant_id, campaign_id, row, seen, budget, now)

    async def on_screened(self, session: AsyncSession, seen: Mapping[CampaignKey, set[str]],
                          now: datetime) -> None:
        """Widen the seen jurisdictions of each started campaign (one with a budget row:
        its ``created``/``running`` event came); re-publish when the budget changes."""
        rows = await self._rows(session, list(seen))
        for (tenant_id, campaign_id), codes in sorted(seen.items()):
            row = rows.get((tenant_id, campaign_id))
            if row is None:  # never started as far as compliance knows: nothing to widen
                continue
            known = set(row.seen_jurisdictions)
            if not codes or codes <= known:
                continue
            widened = sorted(known | codes)
            budget = self.budget(tenant_id, campaign_id, widened)
            if budget is None or budget.same_limits(_stored(row)):
                # Nothing the dialer would pace differently: keep what is in force.
                await self._save(session, tenant_id, campaign_id, row, widened, None, now)
            else:
                await self._publish(session, tenant_id, campaign_id, row, widened, budget, now)

    async def _publish(self, session: AsyncSession, tenant_id: str, campaign_id: str,
                       row: Row[Any] | None, seen: list[str], budget: Budget,
                       now: datetime) -> None:
        await self._store.append(
            session, tenant_id=tenant_id, stream_id=budget_stream_id(campaign_id),
            expected_version=row.version if row is not None else 0,
            payloads=[AbandonBudgetSetV1(
                campaign_id=campaign_id, max_abandon_rate=budget.max_abandon_rate,
                window_s=budget.window_s,
                count_amd_misclassified=budget.count_amd_misclassified,
                jurisdictions=list(budget.jurisdictions),
                policy_version=budget.policy_version, at=now)])
        await self._save(session, tenant_id, campaign_id, row, seen, budget, now)

    @staticmethod
    async def _save(session: AsyncSession, tenant_id: str, campaign_id: str,
                    row: Row[Any] | None, seen: list[str], budget: Budget | None,
                    now: datetime) -> None:
        """Upsert the row: the widened seen set, and the budget when one was published
        (``budget`` None only for an existing row)."""
        t = campaign_budgets
        if budget is None:
            assert row is not None, "only an existing row widens without publishing"
            await session.execute(update(t).where(
                t.c.tenant_id == tenant_id, t.c.campaign_id == campaign_id).values(
                seen_jurisdictions=seen))
            return
        values: dict[str, Any] = {
            "tenant_id": tenant_id, "campaign_id": campaign_id, "seen_jurisdictions": seen,
            "version": (row.version if row is not None else 0) + 1,
            "max_abandon_rate": budget.max_abandon_rate, "window_s": budget.window_s,
            "count_amd_misclassified": budget.count_amd_misclassified,
            "policy_version": budget.policy_version, "published_at": now}
        stmt = dialect_insert(session, t).values(**values)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["tenant_id", "campaign_id"],
            set_={k: stmt.excluded[k] for k in values if k not in ("tenant_id", "campaign_id")}))

    @staticmethod
    async def _rows(session: AsyncSession, keys: list[CampaignKey]
                    ) -> dict[CampaignKey, Row[Any]]:
        if not keys:
            return {}
        t = campaign_budgets
        result = await session.execute(
            select(t).where(tuple_(t.c.tenant_id, t.c.campaign_id).in_(keys)))
        return {(r.tenant_id, r.campaign_id): r for r in result}


def _stored(row: Row[Any]) -> Budget:
    return Budget(max_abandon_rate=row.max_abandon_rate, window_s=row.window_s,
                  count_amd_misclassified=row.count_amd_misclassified,
                  jurisdictions=tuple(row.seen_jurisdictions), policy_version=row.policy_version)
