"""The service shell every Kaden service shares: lifespan, workers, health, metrics.

A service declares a :class:`ServiceSpec` (its routers, migrations and consumers);
:func:`create_service_app` builds the FastAPI app with ``/healthz`` (liveness),
``/readyz`` (database reachable, workers running), ``/metrics`` (Prometheus), RED metrics
and a server span per request (route template only: no path values, no query strings).
With ``role=worker`` or ``all`` the process also runs the outbox relay and the service's
consumers, restarting a crashed worker with back-off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from opentelemetry import trace
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.auth import TokenVerifier
from common.clock import Clock, SystemClock
from common.consumer import BatchHandler, ConsumerRunner, Handler
from common.db import create_engine, create_session_factory
from common.errors import install_error_handlers
from common.eventstore import EventStore, Outbox
from common.kafka import create_producer
from common.logging import setup_logging
from common.metrics import HTTP_DURATION, HTTP_REQUESTS, render_latest
from common.migrations import upgrade_to_head
from common.relay import OutboxRelay
from common.settings import ServiceSettings
from common.telemetry import context_from_traceparent, setup_tracing, tracer
from common.topics import Topic, physical_name

log = logging.getLogger(__name__)


class Worker(Protocol):
    """A background loop of a service (consumer runner, scheduler, pacing loop...)."""

    name: str

    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class ServiceSpec:
    """What makes one service different from another."""

    name: str
    routers: Sequence[APIRouter] = ()
    migrations: Path | None = None  # the service's own alembic revisions, if it owns tables
    metadata: MetaData | None = None
    # Background workers (consumers, schedulers) run in the "worker" and "all" roles.
    workers: Callable[[ServiceRuntime], Sequence[Worker]] = lambda _rt: ()
    settings_cls: type[ServiceSettings] = ServiceSettings


@dataclass
class ServiceRuntime:
    """The wired adapters of a running service (the composition root's product)."""

    spec: ServiceSpec
    settings: ServiceSettings
    engine: Any = None
    sessions: Any = None
    outbox: Outbox = field(default_factory=Outbox)
    event_store: EventStore = field(default_factory=lambda: EventStore("/kaden"))
    clock: Clock = field(default_factory=SystemClock)
    producer: AIOKafkaProducer | None = None
    workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    worker_errors: dict[str, str] = field(default_factory=dict)
    _stoppers: list[Callable[[], None]] = field(default_factory=list)

    def topic(self, topic: Topic) -> str:
        return physical_name(topic, self.settings.kafka_topic_prefix)

    def consumer(
        self, group: str, topics: Sequence[Topic], *,
        handler: Handler | None = None, batch_handler: BatchHandler | None = None,
    ) -> ConsumerRunner:
        """A consumer runner wired to this service's database, outbox and dead-letter topic."""
        return ConsumerRunner(
            group_id=f"{self.settings.kafka_topic_prefix}{group}",
            topics=[self.topic(t) for t in topics],
            handler=handler,
            batch_handler=batch_handler,
            session_factory=self.sessions,
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            dead_letter_topic=self.topic(Topic.DEAD_LETTER),
            outbox=self.outbox,
            batch_size=self.settings.consumer_batch_size,
            client_id=f"{self.spec.name}-{group}",
        )

    async def start(self) -> None:
        s = self.settings
        self.engine = create_engine(s.database_url, pool_size=s.database_pool_size)
        self.sessions = create_session_factory(self.engine)
        self.outbox = Outbox(s.kafka_topic_prefix)
        self.event_store = EventStore(source=f"/kaden/{self.spec.name}", outbox_=self.outbox)
        self.clock = SystemClock(s.clock_offset_s)
        if s.migrate_on_start:
            await upgrade_to_head(s.database_url, self.spec.migrations,
                                  [self.spec.metadata] if self.spec.metadata else [])
        if s.role in ("all", "worker"):
            self.producer = create_producer(s.kafka_bootstrap_servers, f"{self.spec.name}-relay")
            await self.producer.start()
            relay = OutboxRelay(self.sessions, self.producer, self.spec.name,
                                s.relay_batch_size, s.relay_idle_poll_s)
            self._supervise("outbox-relay", relay.run, relay.stop)
            for worker in self.spec.workers(self):
                self._supervise(worker.name, worker.run, worker.stop)

    def _supervise(self, name: str, run: Callable[[], Awaitable[None]], stop: Callable[[], None]) -> None:
        stopping = asyncio.Event()

        async def loop() -> None:
            delay = 1.0
            while not stopping.is_set():
                try:
                    await run()
                    return
                except Exception as exc:
                    self.worker_errors[name] = f"{type(exc).__name__}: {exc}"
                    log.exception("worker %s crashed; restarting in %.0f s", name, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)

        def stop_all() -> None:
            stopping.set()
            stop()

        self._stoppers.append(stop_all)
        self.workers[name] = asyncio.create_task(loop(), name=name)

    async def stop(self) -> None:
        for stop in self._stoppers:
            stop()
        if self.workers:
            _, pending = await asyncio.wait(self.workers.values(), timeout=20)
            for task in pending:
                task.cancel()
        if self.producer is not None:
            await self.producer.stop()
        if self.engine is not None:
            await self.engine.dispose()

    async def readiness(self) -> dict[str, Any]:
        checks: dict[str, Any] = {}
        try:
            async with self.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("select 1")), 2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        for name, task in self.workers.items():
            checks[name] = "stopped" if task.done() else (
                f"restarting: {self.worker_errors[name]}" if name in self.worker_errors else "ok")
        return checks


def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns normally."""
    async with get_runtime(request).sessions() as session, session.begin():
        yield session


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]
# scope="function": commit BEFORE the response is sent, so a failed commit is an error
# response, never a 200 for data that was not stored (FastAPI's default exits after).
SessionDep = Annotated[AsyncSession, Depends(db_session, scope="function")]


def create_service_app(spec: ServiceSpec, settings: ServiceSettings | None = None) -> FastAPI:
    """Build the FastAPI app of a service; adapters start in the lifespan."""
    if settings is None:
        settings = spec.settings_cls()
    elif not isinstance(settings, spec.settings_cls):
        # shared settings get this service's own fields at their defaults
        settings = spec.settings_cls(**settings.model_dump())
    runtime = ServiceRuntime(spec=spec, settings=settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_logging(spec.name, settings.log_level, settings.log_json)
        setup_tracing(spec.name, settings.otel_exporter_otlp_endpoint)
        await runtime.start()
        log.info("%s started (role=%s)", spec.name, settings.role)
        try:
            yield
        finally:
            await runtime.stop()
            log.info("%s stopped", spec.name)

    app = FastAPI(title=f"Kaden {spec.name}", version="0.1.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.token_verifier = TokenVerifier(settings)
    install_error_handlers(app)
    app.add_middleware(_RedMiddleware, service=spec.name)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process serves requests."""
        return {"status": "ok", "service": spec.name}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """Readiness: the database answers and every worker runs."""
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks},
                            200 if ok else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = render_latest()
        return Response(body, media_type=content_type)

    for router in spec.routers:
        app.include_router(router)
    return app


class _RedMiddleware:
    """Rate/errors/duration per route template, and a server span continuing W3C context."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        status = 500
        method = scope["method"]

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        ctx = context_from_traceparent(headers.get("traceparent"), headers.get("tracestate"))
        with tracer().start_as_current_span(f"{method}", context=ctx,
                                            kind=trace.SpanKind.SERVER) as span:
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
                HTTP_DURATION.labels(self.service, method, route).observe(
                    time.perf_counter() - start)
