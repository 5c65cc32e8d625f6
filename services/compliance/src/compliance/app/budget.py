"""The per-campaign abandon-rate budget published for the dialer (``abandon_budget_set``).

When a campaign is created or started no lead is known yet, so the budget is the
strictest over every jurisdiction pack loaded (fail closed). Once screening has seen the
campaign's leads, it is the strictest over the jurisdictions seen so far, re-published
whenever a new jurisdiction changes it.

Several rules combine into one budget: the lowest rate, over the window ``g`` = the
greatest common divisor of the rules' windows, AMD estimate if any rule counts it.
Tiling argument: each rule's window ``w`` is a whole multiple of ``g``, so any rolling
window of length ``w`` is the disjoint union of ``w / g`` back-to-back windows of length
``g``; abandons / live answers over a union never exceeds the largest ratio of its parts
(a ratio of sums), so keeping the lowest rate over every window of length ``g`` keeps
every rule's rate over its own window. The shortest window alone is not enough when it
does not divide the others (28 d does not tile 30 d; ``g`` = 2 d does), and ``g`` is the
longest window that tiles them all (the least restrictive one that is still safe). A
calendar month lasts 28 to 31 days, so a month rule tiles with 1 day (gcd of 28-31 d),
and a calendar-day rule with 1 hour (a local day lasts 23-25 h across DST).
Jurisdictions without a rule (JP, FR) add none; if no jurisdiction seen has one, the
budget in force stays (never an unlimited budget).

Concurrency: several screening pods may widen one campaign at once. Widening locks the
campaign's budget row (``SELECT ... FOR UPDATE``; SQLite serializes writers), re-reads the
seen jurisdictions under the lock and merges into them, so no pod loses another's; each
campaign's widening runs in a savepoint and appends at the stream's current version,
retried on a version conflict: a conflict never fails the screening batch (after
``_RETRIES`` it is skipped, and the next poll that sees those leads widens again).
An identical budget (same rate, window, AMD flag) is never re-published.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from common.events.catalog import AbandonBudgetSetV1
from common.eventstore import ConcurrencyError, EventStore
from compliance.adapters.facts_tables import campaign_budgets, dialect_insert
from compliance.domain.effective import EffectivePolicy
from compliance.domain.periods import Period
from compliance.domain.policy import PolicyCatalog

log = logging.getLogger(__name__)

_HOUR_S = 3600
_DAY_S = 24 * _HOUR_S
_RETRIES = 3  # appends of one budget on version conflicts before giving up for this poll

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


def tile_seconds(period: Period) -> int:
    """The longest window, seconds, whose back-to-back copies tile every occurrence of
    ``period``: its exact length for hours and days; 1 day for calendar months (28-31
    days long); 1 hour for calendar days (23-25 h across DST)."""
    if period.months:
        return _DAY_S
    if period.calendar:
        return _HOUR_S
    return period.hours * _HOUR_S + period.days * _DAY_S


def combine(policy: EffectivePolicy, jurisdictions: Iterable[str]) -> Budget | None:
    """The single budget honouring every abandonment rule of ``policy`` (None: no rule)."""
    rules = policy.abandonment
    if not rules:
        return None
    return Budget(
        max_abandon_rate=min(r.max_rate for r in rules),
        window_s=math.gcd(*(tile_seconds(r.period) for r in rules)),
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
        jurisdictions seen so far, of every pack when none is; nothing when the budget in
        force already has the same limits."""
        key = (tenant_id, campaign_id)
        row = (await self._rows(session, [key], lock=True)).get(key)
        seen = list(row.seen_jurisdictions) if row is not None else []
        budget = self.budget(tenant_id, campaign_id, seen)
        if budget is None and seen:
            budget = self.budget(tenant_id, campaign_id, [])
        if budget is None or (row is not None and budget.same_limits(_stored(row))):
            return
        await self._publish(session, tenant_id, campaign_id, row, seen, budget, now)

    async def on_screened(self, session: AsyncSession, seen: Mapping[CampaignKey, set[str]],
                          now: datetime) -> None:
        """Widen the seen jurisdictions of each started campaign (one with a budget row:
        its ``created``/``running`` event came); re-publish when the budget changes.
        Never raises for a version conflict (see the module docstring)."""
        rows = await self._rows(session, list(seen))
        for key, codes in sorted(seen.items()):
            row = rows.get(key)
            if row is None or not codes or codes <= set(row.seen_jurisdictions):
                continue  # not started as far as compliance knows, or nothing new
            for attempt in range(1, _RETRIES + 1):
                try:
                    async with session.begin_nested():
                        await self._widen(session, key, codes, now)
                    break
                except ConcurrencyError as exc:
                    log.warning("abandon budget of campaign %s: %s (attempt %d of %d)",
                                key[1], exc, attempt, _RETRIES)

    async def _widen(self, session: AsyncSession, key: CampaignKey, codes: set[str],
                     now: datetime) -> None:
        """Merge ``codes`` into the campaign's seen jurisdictions under the row lock."""
        tenant_id, campaign_id = key
        row = (await self._rows(session, [key], lock=True))[key]
        known = set(row.seen_jurisdictions)
        if codes <= known:
            return  # another pod widened it meanwhile
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
        stream = budget_stream_id(campaign_id)
        version = await self._store.current_version(session, tenant_id=tenant_id,
                                                    stream_id=stream)
        await self._store.append(
            session, tenant_id=tenant_id, stream_id=stream, expected_version=version,
            payloads=[AbandonBudgetSetV1(
                campaign_id=campaign_id, max_abandon_rate=budget.max_abandon_rate,
                window_s=budget.window_s,
                count_amd_misclassified=budget.count_amd_misclassified,
                jurisdictions=list(budget.jurisdictions),
                policy_version=budget.policy_version, at=now)])
        await self._save(session, tenant_id, campaign_id, row, seen, budget, now,
                         version=version + 1)

    @staticmethod
    async def _save(session: AsyncSession, tenant_id: str, campaign_id: str,
                    row: Row[Any] | None, seen: list[str], budget: Budget | None,
                    now: datetime, version: int = 0) -> None:
        """Upsert the row: the widened seen set, and the budget published as stream
        ``version`` (``budget`` None only for an existing row)."""
        t = campaign_budgets
        if budget is None:
            assert row is not None, "only an existing row widens without publishing"
            await session.execute(update(t).where(
                t.c.tenant_id == tenant_id, t.c.campaign_id == campaign_id).values(
                seen_jurisdictions=seen))
            return
        values: dict[str, Any] = {
            "tenant_id": tenant_id, "campaign_id": campaign_id, "seen_jurisdictions": seen,
            "version": version,
            "max_abandon_rate": budget.max_abandon_rate, "window_s": budget.window_s,
            "count_amd_misclassified": budget.count_amd_misclassified,
            "policy_version": budget.policy_version, "published_at": now}
        stmt = dialect_insert(session, t).values(**values)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["tenant_id", "campaign_id"],
            set_={k: stmt.excluded[k] for k in values if k not in ("tenant_id", "campaign_id")}))

    @staticmethod
    async def _rows(session: AsyncSession, keys: list[CampaignKey], lock: bool = False
                    ) -> dict[CampaignKey, Row[Any]]:
        """The budget rows of ``keys``; ``lock``: ``FOR UPDATE`` (PostgreSQL)."""
        if not keys:
            return {}
        t = campaign_budgets
        query = select(t).where(tuple_(t.c.tenant_id, t.c.campaign_id).in_(keys))
        result = await session.execute(query.with_for_update() if lock else query)
        return {(r.tenant_id, r.campaign_id): r for r in result}


def _stored(row: Row[Any]) -> Budget:
    return Budget(max_abandon_rate=row.max_abandon_rate, window_s=row.window_s,
                  count_amd_misclassified=row.count_amd_misclassified,
                  jurisdictions=tuple(row.seen_jurisdictions), policy_version=row.policy_version)
