"""Event store and transactional outbox.

Each aggregate is a stream of events in ``event_store`` keyed by
``(tenant_id, stream_id, version)``; appending with a stale ``expected_version`` violates
that key and raises :class:`ConcurrencyError` (exactly one of two concurrent writers wins).
The same transaction writes one ``outbox`` row per event; :mod:`common.relay` publishes
them to Kafka. Nothing reaches Kafka unless the state change committed, and nothing
commits without its events being queued for Kafka.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import event_store, outbox, utcnow
from common.events import EventEnvelope, EventPayload, build_envelope, payload_class
from common.topics import Topic, physical_name


class ConcurrencyError(Exception):
    """The stream moved on since it was read: reload and decide again."""


@dataclass(frozen=True)
class StoredEvent:
    """An event as stored in a stream, with its position."""

    stream_id: str
    version: int
    envelope: EventEnvelope


class Outbox:
    """Queues envelopes for publication in the caller's transaction."""

    def __init__(self, topic_prefix: str = "") -> None:
        self.topic_prefix = topic_prefix

    async def add(
        self,
        session: AsyncSession,
        envelopes: Sequence[EventEnvelope],
        topic: Topic | None = None,
    ) -> None:
        """Insert one outbox row per envelope (one statement); the topic defaults to the
        payload's own."""
        if not envelopes:
            return
        now = utcnow()
        rows = []
        for env in envelopes:
            key, value, headers = env.to_kafka()
            rows.append(_outbox_row(
                physical_name(topic or payload_class(env.type).topic, self.topic_prefix),
                key, value, headers, env.tenantid, env.id, now))
        await session.execute(insert(outbox), rows)

    async def add_raw(
        self,
        session: AsyncSession,
        *,
        topic: str,
        key: bytes,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
        tenant_id: str,
        event_id: str,
    ) -> None:
        """Queue an already-encoded record (dead letters keep the original bytes)."""
        await session.execute(insert(outbox).values(
            **_outbox_row(topic, key, value, headers, tenant_id, event_id, utcnow())))


def _outbox_row(topic: str, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]],
                tenant_id: str, event_id: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id, "tenant_id": tenant_id, "topic": topic, "key": key,
        "value": value, "headers": [[n, v.decode("utf-8", "replace")] for n, v in headers],
        "created_at": now,
    }


@dataclass(frozen=True)
class StreamAppend:
    """Events to append to one stream after ``expected_version`` (0: a new stream)."""

    stream_id: str
    expected_version: int
    payloads: Sequence[EventPayload]


class EventStore:
    """Append-only streams with optimistic concurrency, publishing through the outbox."""

    def __init__(self, source: str, outbox_: Outbox | None = None) -> None:
        self.source = source
        self.outbox = outbox_ or Outbox()

    async def append(
        self,
        session: AsyncSession,
        *,
        tenant_id: str,
        stream_id: str,
        expected_version: int,
        payloads: Sequence[EventPayload],
    ) -> list[EventEnvelope]:
        """Append events after ``expected_version`` (0 for a new stream).

        Raises :class:`ConcurrencyError` if another writer appended first; the session
        stays usable (the insert runs in a savepoint). The caller commits.
        """
        return await self.append_many(
            session, tenant_id=tenant_id,
            appends=[StreamAppend(stream_id, expected_version, payloads)])

    async def append_many(
        self, session: AsyncSession, *, tenant_id: str, appends: Sequence[StreamAppend]
    ) -> list[EventEnvelope]:
        """Append to many streams at once: one insert for the events, one for the outbox
        (bulk imports, batch screening). All or nothing: :class:`ConcurrencyError` if any
        stream moved past its expected version. Returns the envelopes in order."""
        envelopes: list[EventEnvelope] = []
        rows: list[dict[str, Any]] = []
        now = utcnow()
        for a in appends:
            for i, payload in enumerate(a.payloads, start=1):
                env = build_envelope(payload, tenant_id=tenant_id, source=self.source,
                                     subject=a.stream_id)
                envelopes.append(env)
                rows.append({
                    "tenant_id": tenant_id, "stream_id": a.stream_id,
                    "version": a.expected_version + i, "event_id": env.id,
                    "event_type": env.type, "data": env.data, "recorded_at": now,
                })
        if not rows:
            return []
        try:
            async with session.begin_nested():
                await session.execute(insert(event_store), rows)
        except IntegrityError as exc:
            moved = ", ".join(a.stream_id for a in appends[:5])
            raise ConcurrencyError(f"a stream moved past its expected version ({moved})") from exc
        await self.outbox.add(session, envelopes)
        return envelopes

    async def load(
        self, session: AsyncSession, *, tenant_id: str, stream_id: str, after_version: int = 0
    ) -> list[StoredEvent]:
        """The stream's events after ``after_version``, in order. Tenant-scoped."""
        result = await session.execute(
            select(event_store)
            .where(
                event_store.c.tenant_id == tenant_id,
                event_store.c.stream_id == stream_id,
                event_store.c.version > after_version,
            )
            .order_by(event_store.c.version)
        )
        return [
            StoredEvent(
                stream_id=row.stream_id,
                version=row.version,
                envelope=EventEnvelope(
                    id=row.event_id,
                    source=self.source,
                    type=row.event_type,
                    time=row.recorded_at,
                    subject=row.stream_id,
                    tenantid=row.tenant_id,
                    key=payload_class(row.event_type).model_validate(row.data).partition_key(),
                    data=row.data,
                ),
            )
            for row in result
        ]

    async def current_version(self, session: AsyncSession, *, tenant_id: str, stream_id: str) -> int:
        """The stream's last version, 0 when it does not exist."""
        result = await session.execute(
            select(func.coalesce(func.max(event_store.c.version), 0)).where(
                event_store.c.tenant_id == tenant_id, event_store.c.stream_id == stream_id
            )
        )
        return int(result.scalar_one())
