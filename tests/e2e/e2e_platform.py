"""The five services in-process on the real Kafka broker and PostgreSQL, for e2e tests.

    async with start_platform(kafka_broker, postgres_server, settings={...}) as platform:
        platform.clients["leads"].post(...)
        await platform.events("calls")            # the tenant's envelopes on a topic

Each platform has its own topic prefix and one fresh PostgreSQL database per service. The
platform clock starts at a New York weekday business hour (``demo_clock_offset``) unless
told otherwise; :meth:`Platform.shift_clock` moves every service's clock at once.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from common.clock import SystemClock
from common.events import EventEnvelope
from common.testing.kafka_tools import read_all, unique_name
from common.testing.services import TEST_JWT_SECRET, RunningService, running_service
from simulator.devstack import demo_clock_offset
from simulator.registry import import_registry, operator_headers, registry_file

SERVICES = ("leads", "compliance", "dialer", "agent", "reporting")


@dataclass
class Platform:
    bootstrap: str
    prefix: str
    database_urls: dict[str, str]
    clock_offset_s: float
    settings: dict[str, dict[str, Any]]
    stack: AsyncExitStack
    services: dict[str, RunningService] = field(default_factory=dict)
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)
    _contexts: dict[str, AbstractAsyncContextManager[RunningService]] = field(default_factory=dict)

    async def start_service(self, name: str) -> None:
        spec = importlib.import_module(f"{name}.main").SPEC
        context = running_service(spec, kafka_bootstrap=self.bootstrap,
                                  database_url=self.database_urls[name], topic_prefix=self.prefix,
                                  clock_offset_s=self.clock_offset_s,
                                  **self.settings.get(name, {}))
        self._contexts[name] = context
        self.services[name] = await context.__aenter__()
        self.clients[name] = self.services[name].client

    async def stop_service(self, name: str) -> None:
        context = self._contexts.pop(name)
        await context.__aexit__(None, None, None)

    async def restart_service(self, name: str) -> None:
        await self.stop_service(name)
        await self.start_service(name)

    async def stop(self) -> None:
        for name in reversed(list(self._contexts)):
            await self.stop_service(name)

    def shift_clock(self, seconds: float) -> None:
        """Move every running service's clock (and later starts) by ``seconds``."""
        self.clock_offset_s += seconds
        for svc in self.services.values():
            clock = svc.runtime.clock
            assert isinstance(clock, SystemClock), type(clock)
            clock.shift(seconds)

    async def import_us_registry(self, listed: Iterable[str] = (), filler: int = 2000) -> None:
        """Import a fresh synthetic US-DNC copy (downloaded two days ago) as an operator,
        listing ``listed``: compliance screens US leads against it, no waiver."""
        now = self.services["compliance"].runtime.clock.now()
        await import_registry(self.clients["compliance"], operator_headers(TEST_JWT_SECRET),
                              name="US-DNC", content=registry_file(listed, filler=filler),
                              version="e2e", downloaded_at=now - timedelta(days=2))

    async def events(self, topic: str, tenant: str) -> list[EventEnvelope]:
        """Every envelope of ``tenant`` on ``topic`` so far."""
        records = await read_all(self.bootstrap, f"{self.prefix}{topic}", timeout_s=10)
        envelopes = [EventEnvelope.from_kafka(r.key, r.value, r.headers) for r in records]
        return [e for e in envelopes if e.tenantid == tenant]


@asynccontextmanager
async def start_platform(kafka_broker: Any, postgres_server: Any, *,
                         settings: dict[str, dict[str, Any]],
                         clock_offset_s: float | None = None) -> AsyncIterator[Platform]:
    """Start the five services (``settings``: per-service setting overrides)."""
    urls = {}
    for name in SERVICES:
        db = f"e2e_{name}_{uuid.uuid4().hex[:8]}"
        postgres_server.create_database(db)
        urls[name] = postgres_server.dsn(db)
    offset = demo_clock_offset(datetime.now(UTC)) if clock_offset_s is None else clock_offset_s
    platform = Platform(kafka_broker.bootstrap_servers, unique_name("e2e") + ".", urls,
                        offset, settings, AsyncExitStack())
    try:
        for name in SERVICES:
            await platform.start_service(name)
        yield platform
    finally:
        await platform.stop()


def by_type(events: list[EventEnvelope], suffix: str) -> list[dict[str, Any]]:
    """The payloads of the events whose type ends with ``suffix``."""
    return [e.data for e in events if e.type.endswith(suffix)]
