"""Composition root of the agent service: `uvicorn --factory agent.main:create_app`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from agent.adapters.db import metadata
from agent.adapters.repository import AgentRepository
from agent.api.routes import router
from agent.app.calls import CallEventHandler
from agent.settings import AgentSettings
from common.app import ServiceRuntime, ServiceSpec, Worker, create_service_app
from common.topics import Topic


def workers(runtime: ServiceRuntime) -> Sequence[Worker]:
    """The ``calls`` consumer: call connections and ends move agents on_call / to wrap_up."""
    handler = CallEventHandler(AgentRepository(runtime.event_store))
    return [runtime.consumer("agent-calls", [Topic.CALLS], handler=handler.handle)]


SPEC = ServiceSpec(
    name="agent",
    routers=[router],
    migrations=Path(__file__).parent / "migrations",
    metadata=metadata,
    workers=workers,
    settings_cls=AgentSettings,
)


def create_app(settings: AgentSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
