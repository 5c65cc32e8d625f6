"""Composition root of the leads service: `uvicorn --factory leads.main:create_app`.

Workers (roles ``worker`` and ``all``): the import worker, the due scheduler, the
``campaigns`` projection and the outcomes consumer (``compliance``, ``leads``, ``calls``,
``agents``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from fastapi import FastAPI

from common.app import ServiceRuntime, ServiceSpec, Worker, create_service_app
from common.settings import ServiceSettings
from common.topics import Topic
from leads.adapters.db import metadata
from leads.api import imports, lists
from leads.app.campaigns import project_campaigns
from leads.app.import_worker import ImportWorker
from leads.app.outcomes import outcome_handler
from leads.app.scheduler import DueScheduler
from leads.settings import LeadsSettings


def workers(runtime: ServiceRuntime) -> Sequence[Worker]:
    settings = cast(LeadsSettings, runtime.settings)
    return [
        ImportWorker(runtime, settings),
        DueScheduler(runtime, settings),
        runtime.consumer("leads-campaigns", [Topic.CAMPAIGNS], batch_handler=project_campaigns),
        runtime.consumer("leads-outcomes",
                         [Topic.COMPLIANCE, Topic.LEADS, Topic.CALLS, Topic.AGENTS],
                         batch_handler=outcome_handler(runtime)),
    ]


SPEC = ServiceSpec(
    name="leads",
    routers=[lists.router, imports.router],
    migrations=Path(__file__).parent / "migrations",
    metadata=metadata,
    workers=workers,
    settings_cls=LeadsSettings,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
