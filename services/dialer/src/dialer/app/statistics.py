"""What predictive pacing knows of each campaign, learned online from its own calls.

In memory per campaign this process paces: a :class:`CampaignStatistics` snapshot and
the watermarks of the calls already observed. On the first decision for a campaign (a
start-up, or a campaign newly owned after a rebalance) it is rebuilt from the campaign's
most recent calls; afterwards each refresh observes only what resolved since:

- live answer delays: dial -> live answer (``answered_at - dialed_at``);
- non-live durations: dial -> the end of an attempt no person answered (no answer, busy,
  failed) or the machine verdict;
- handle times: agent connected -> agent ready again (talk + wrap-up), from ``released_at``.

Times are the platform clock's seconds (compressed with the simulated carrier in tests,
like everything the engine sees). A row committed late with an older timestamp than the
watermark is missed: a negligible loss for estimators with a memory of hundreds of calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.adapters.db import calls
from dialer.domain.pacing_estimators import CampaignStatistics

Sample = TypeVar("Sample")

_HUMAN = and_(calls.c.answered_at.is_not(None), func.coalesce(calls.c.outcome, "") != "machine")
_NON_LIVE = and_(calls.c.ended_at.is_not(None),
                 or_(calls.c.answered_at.is_(None), calls.c.outcome == "machine"))


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


@dataclass
class _Learned:
    statistics: CampaignStatistics
    answered: datetime | None = None
    ended: datetime | None = None
    released: datetime | None = None


class StatisticsBook:
    """Per-campaign statistics of the campaigns this process paces."""

    def __init__(self, rebuild_calls: int = 2000) -> None:
        self.rebuild_calls = rebuild_calls
        self._learned: dict[tuple[str, str], _Learned] = {}

    def forget(self, keep: set[tuple[str, str]]) -> None:
        """Drop campaigns no longer paced here (a later owner rebuilds them)."""
        for key in set(self._learned) - keep:
            del self._learned[key]

    async def current(self, session: AsyncSession, tenant_id: str,
                      campaign_id: str) -> CampaignStatistics:
        """The campaign's statistics with every call resolved since the last refresh."""
        learned = self._learned.get((tenant_id, campaign_id))
        if learned is None:
            learned = self._learned[(tenant_id, campaign_id)] = _Learned(
                CampaignStatistics.cold_start())
        live, learned.answered = await self._since(
            session, tenant_id, campaign_id, _HUMAN, calls.c.answered_at, learned.answered,
            lambda r: _seconds(r.dialed_at, r.answered_at))
        non_live, learned.ended = await self._since(
            session, tenant_id, campaign_id, _NON_LIVE, calls.c.ended_at, learned.ended,
            lambda r: _seconds(r.dialed_at, r.answered_at or r.ended_at))
        phases, learned.released = await self._since(
            session, tenant_id, campaign_id,
            and_(calls.c.released_at.is_not(None), calls.c.connected_at.is_not(None)),
            calls.c.released_at, learned.released,
            lambda r: (_seconds(r.connected_at, r.ended_at or r.released_at),
                       _seconds(r.ended_at or r.released_at, r.released_at)))
        if live or non_live or phases:
            learned.statistics = learned.statistics.observe(
                live_answer_delays=live, non_live_durations=non_live,
                handle_times=[talk + wrap for talk, wrap in phases],
                talk_times=[talk for talk, _ in phases],
                wrap_times=[wrap for _, wrap in phases])
        return learned.statistics

    async def _since(self, session: AsyncSession, tenant_id: str, campaign_id: str,
                     condition: Any, at: Any, watermark: datetime | None,
                     measure: Callable[[Any], Sample]) -> tuple[list[Sample], datetime | None]:
        """Samples of calls matching ``condition`` with ``at`` after ``watermark`` (the
        most recent ``rebuild_calls`` when there is none yet), oldest first."""
        query = (select(calls.c.dialed_at, calls.c.answered_at, calls.c.ended_at,
                        calls.c.connected_at, calls.c.released_at, at.label("at"))
                 .where(calls.c.tenant_id == tenant_id, calls.c.campaign_id == campaign_id,
                        condition))
        if watermark is not None:
            query = query.where(at > watermark)
        rows = list((await session.execute(
            query.order_by(at.desc()).limit(self.rebuild_calls))).all())
        rows.reverse()
        if not rows:
            return [], watermark
        return [measure(r) for r in rows], rows[-1].at
