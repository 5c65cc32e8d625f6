"""The compliance workers: screening (``leads``) and DNC dispositions (``agents``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from common.app import ServiceRuntime, Worker
from common.consumer import ConsumedEvent
from common.topics import Topic
from compliance.app.dispositions import DispositionHandler
from compliance.app.dnc_directory import DncDirectory
from compliance.app.screening import Screener
from compliance.domain.policy import PolicyCatalog
from compliance.settings import ComplianceSettings


class ScreeningWorker:
    """Loads the policy catalog and the DNC indexes, then consumes ``leads``."""

    name = "screening"

    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime
        self._screener: Screener | None = None
        self._runner = runtime.consumer("compliance-screening", [Topic.LEADS],
                                        batch_handler=self._handle)

    async def run(self) -> None:
        rt = self._runtime
        settings = rt.settings
        assert isinstance(settings, ComplianceSettings), "SPEC.settings_cls is ComplianceSettings"
        catalog = await asyncio.to_thread(PolicyCatalog.bundled)
        directory = DncDirectory()
        async with rt.sessions() as session, session.begin():
            await directory.load_all(session)
        self._screener = Screener(catalog, directory, rt.event_store, rt.clock, settings)
        await self._runner.run()

    def stop(self) -> None:
        self._runner.stop()

    async def _handle(self, session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
        assert self._screener is not None, "the runner starts after the screener is built"
        await self._screener.on_lead_events(session, events)


def workers(runtime: ServiceRuntime) -> Sequence[Worker]:
    """The workers of the ``worker`` and ``all`` roles."""
    dispositions = DispositionHandler(runtime.event_store, runtime.clock)
    return [
        ScreeningWorker(runtime),
        runtime.consumer("compliance-dispositions", [Topic.AGENTS],
                         handler=dispositions.on_agent_event),
    ]
