"""Run a service in-process for integration tests, against the real broker and database.

    async with running_service(leads.main.SPEC, kafka_broker=..., database_url=...) as svc:
        r = await svc.client.post("/v1/lists", json=..., headers=bearer("acme"))

Each call gets its own topic prefix (unless given), so tests never see each other's events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from common.app import ServiceRuntime, ServiceSpec, create_service_app
from common.auth import TENANT_SCOPES, issue_token
from common.testing.kafka_tools import unique_name
from common.topics import ensure_topics

TEST_JWT_SECRET = "kaden-test-secret-0123456789abcdef0123456789"
ALL_SCOPES = TENANT_SCOPES


def bearer(tenant: str, scopes: Iterable[str] = ALL_SCOPES, subject: str = "test") -> dict[str, str]:
    """Authorization header for ``tenant`` signed with the test secret."""
    token = issue_token(TEST_JWT_SECRET, tenant_id=tenant, subject=subject, scopes=scopes)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class RunningService:
    app: FastAPI
    client: httpx.AsyncClient
    topic_prefix: str

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime


@asynccontextmanager
async def running_service(
    spec: ServiceSpec,
    *,
    kafka_bootstrap: str,
    database_url: str,
    topic_prefix: str | None = None,
    **settings: Any,
) -> AsyncIterator[RunningService]:
    """Start ``spec``'s app with its workers (lifespan), yield an HTTP client bound to it."""
    prefix = topic_prefix if topic_prefix is not None else unique_name("it") + "."
    await ensure_topics(kafka_bootstrap, prefix=prefix, partitions_override=2)
    config = spec.settings_cls(
        database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=prefix, jwt_secret=TEST_JWT_SECRET, log_json=False, **settings,
    )
    app = create_service_app(spec, config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{spec.name}") as client:
            yield RunningService(app, client, prefix)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0,
                   interval_s: float = 0.1, what: str = "condition") -> None:
    """Poll ``check`` until it returns True; fail with ``what`` after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(interval_s)
