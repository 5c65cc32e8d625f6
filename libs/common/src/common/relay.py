"""The outbox relay: publishes committed outbox rows to Kafka, then marks them published.

At-least-once by design: a crash between the broker's acknowledgement and the mark
publishes those rows again on restart; consumers drop the duplicates by event id.
Per-key order holds because one stream's events commit in version order (the event store
key serialises writers) and the relay publishes pending rows in id order through an
idempotent producer. On PostgreSQL only one relay per database publishes at a time
(an advisory lock), so several worker replicas do not interleave.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka import AIOKafkaProducer
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from common.db import is_sqlite, outbox, utcnow
from common.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISH_DELAY, OUTBOX_PUBLISHED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingRow:
    id: int
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    created_at: datetime


class OutboxRelay:
    """Moves outbox rows to Kafka. ``run()`` loops until ``stop()``; ``run_once()`` is one batch."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        service: str,
        batch_size: int = 500,
        idle_poll_s: float = 0.05,
        keep_published: timedelta = timedelta(hours=24),
    ) -> None:
        self._sessions = session_factory
        self._producer = producer
        self._service = service
        self._batch_size = batch_size
        self._idle_poll_s = idle_poll_s
        self._keep_published = keep_published
        self._stopping = asyncio.Event()

    async def fetch_pending(self) -> list[PendingRow]:
        """The oldest unpublished rows, in commit-independent id order."""
        async with self._sessions() as session:
            result = await session.execute(
                select(outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value,
                       outbox.c.headers, outbox.c.created_at)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.id)
                .limit(self._batch_size)
            )
            return [
                PendingRow(r.id, r.topic, r.key, r.value,
                           [(n, v.encode()) for n, v in r.headers], r.created_at)
                for r in result
            ]

    async def publish(self, rows: Sequence[PendingRow]) -> None:
        """Send rows and wait until the broker acknowledged every one."""
        futures = [
            await self._producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in rows
        ]
        await asyncio.gather(*futures)
        now = utcnow()
        for r in rows:
            OUTBOX_PUBLISHED.labels(self._service, r.topic).inc()
            OUTBOX_PUBLISH_DELAY.labels(self._service).observe((now - r.created_at).total_seconds())

    async def mark_published(self, rows: Sequence[PendingRow]) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(outbox)
                .where(outbox.c.id.in_([r.id for r in rows]))
                .values(published_at=utcnow())
            )

    async def run_once(self) -> int:
        """Publish one batch; returns how many rows were published."""
        rows = await self.fetch_pending()
        if rows:
            await self.publish(rows)
            await self.mark_published(rows)
        return len(rows)

    async def backlog(self) -> int:
        async with self._sessions() as session:
            result = await session.execute(
                select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
            )
            return int(result.scalar_one())

    async def prune(self) -> int:
        """Delete rows published longer ago than ``keep_published`` (the event store keeps history)."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(outbox).where(outbox.c.published_at < utcnow() - self._keep_published)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Publish until stopped; backs off on Kafka or database errors."""
        async with self._leadership() as _:
            last_housekeeping = 0.0
            loop = asyncio.get_running_loop()
            while not self._stopping.is_set():
                try:
                    published = await self.run_once()
                    if loop.time() - last_housekeeping > 10:
                        OUTBOX_BACKLOG.labels(self._service).set(await self.backlog())
                        await self.prune()
                        last_housekeeping = loop.time()
                except Exception:  # keep relaying: the rows stay pending and are retried
                    log.exception("outbox relay batch failed; retrying")
                    published = 0
                    await self._sleep(1.0)
                if published < self._batch_size:
                    await self._sleep(self._idle_poll_s)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    def _leadership(self) -> _RelayLeadership:
        return _RelayLeadership(self._sessions, self._service, self._stopping)


class _RelayLeadership:
    """Holds a PostgreSQL advisory lock for the relay's lifetime (no-op on SQLite)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], service: str, stopping: asyncio.Event
    ) -> None:
        self._engine = sessions.kw["bind"]
        self._key = zlib.crc32(f"kaden-outbox-relay:{service}".encode())
        self._stopping = stopping
        self._conn: AsyncConnection | None = None

    async def __aenter__(self) -> _RelayLeadership:
        if is_sqlite(self._engine):
            return self
        self._conn = await self._engine.connect()
        while not self._stopping.is_set():
            got = (await self._conn.execute(
                text("select pg_try_advisory_lock(:k)"), {"k": self._key})).scalar_one()
            await self._conn.commit()
            if got:
                return self
            log.info("another relay holds the outbox lock; standing by")
            try:
                await asyncio.wait_for(self._stopping.wait(), 5.0)
            except TimeoutError:
                pass
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._conn is not None:
            # The pooled connection outlives this object: unlock explicitly.
            try:
                await self._conn.execute(text("select pg_advisory_unlock_all()"))
                await self._conn.commit()
            finally:
                await self._conn.close()
