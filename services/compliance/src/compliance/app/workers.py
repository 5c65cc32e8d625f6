"""The compliance workers: screening (``leads``), facts from events (``campaigns``,
``calls``, ``agents``) and DNC dispositions (``agents``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from common.app import ServiceRuntime, Worker
from common.consumer import ConsumedEvent
from common.topics import Topic
from compliance.app.budget import BudgetKeeper
from compliance.app.dispositions import DispositionHandler
from compliance.app.dnc_directory import DncDirectory
from compliance.app.facts import FactsRecorder
from compliance.app.facts_watermark import FACTS_GROUP, FactsWatermark
from compliance.app.registries import shared_registries
from compliance.app.screening import Screener
from compliance.domain.policy import PolicyCatalog
from compliance.settings import ComplianceSettings


async def build_screener(runtime: ServiceRuntime) -> Screener:
    """A screener with every fact source loaded from the tables (the screening worker's,
    and the batch check API's: one evaluation path)."""
    settings = runtime.settings
    assert isinstance(settings, ComplianceSettings), "SPEC.settings_cls is ComplianceSettings"
    catalog = await asyncio.to_thread(PolicyCatalog.bundled)
    directory = DncDirectory()
    registries = shared_registries(runtime)
    async with runtime.sessions() as session, session.begin():
        await directory.load_all(session)
        await registries.refresh(session)
    return Screener(catalog, directory, runtime.event_store, runtime.clock, settings, registries)


class ScreeningWorker:
    """Loads the policy catalog and the DNC indexes, then consumes ``leads``."""

    name = "screening"

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime
        self._screener: Screener | None = None
        self._runner = runtime.consumer("compliance-screening", [Topic.LEADS],
                                        batch_handler=self._handle)

    async def run(self) -> None:
        self._screener = await build_screener(self._runtime)
        await self._runner.run()

    def stop(self) -> None:
        self._runner.stop()

    async def _handle(self, session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
        assert self._screener is not None, "the runner starts after the screener is built"
        await self._screener.on_lead_events(session, events)


class FactsWorker:
    """Loads the policy catalog (for budgets), then records campaign facts, call attempts
    and refusals from ``campaigns``, ``calls`` and ``agents``, and keeps the consumer's
    watermark (``facts_watermark``) beside it."""

    name = "facts"

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime
        self._recorder: FactsRecorder | None = None
        self._runner = runtime.consumer(
            FACTS_GROUP, [Topic.CAMPAIGNS, Topic.CALLS, Topic.AGENTS],
            batch_handler=self._handle)
        self._watermark: FactsWatermark | None = None

    async def run(self) -> None:
        settings = self._runtime.settings
        assert isinstance(settings, ComplianceSettings), "SPEC.settings_cls is ComplianceSettings"
        catalog = await asyncio.to_thread(PolicyCatalog.bundled)
        self._recorder = FactsRecorder(BudgetKeeper(catalog, self._runtime.event_store),
                                       settings.refusal_dispositions, self._runtime.clock)
        self._watermark = FactsWatermark(
            self._runner, self._runtime.sessions, settings.kafka_bootstrap_servers,
            self._runtime.clock, settings.facts_watermark_interval_s)
        watermark = asyncio.create_task(self._watermark.run())
        try:
            await self._runner.run()
        finally:
            self._watermark.stop()
            await watermark

    def stop(self) -> None:
        self._runner.stop()
        if self._watermark is not None:
            self._watermark.stop()

    async def _handle(self, session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
        assert self._recorder is not None, "the runner starts after the recorder is built"
        await self._recorder.on_events(session, events)


def workers(runtime: ServiceRuntime) -> Sequence[Worker]:
    """The workers of the ``worker`` and ``all`` roles."""
    dispositions = DispositionHandler(runtime.event_store, runtime.clock)
    return [
        ScreeningWorker(runtime),
        FactsWorker(runtime),
        runtime.consumer("compliance-dispositions", [Topic.AGENTS],
                         handler=dispositions.on_agent_event),
    ]
