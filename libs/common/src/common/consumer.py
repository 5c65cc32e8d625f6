"""The idempotent consumer runner.

For each batch of one partition, in ONE database transaction:
  1. claim the event ids in ``processed_events`` (duplicates are skipped),
  2. run the handler for each new event (its writes use the same session),
  3. queue dead letters for poison records (through the outbox),
  4. store the partition's next offset in ``consumer_offsets``.
Then the offset is also committed to Kafka, only so that lag is visible to monitoring and
autoscaling. On assignment the runner seeks to the offsets stored in the database, so a
crash anywhere has no double effect and loses nothing. A rebalance waits for the batch in
flight to commit before the partitions are given up.

Failures: a record that is not a valid event, or whose payload does not parse, goes to the
dead-letter topic at once with the reason; a handler error is retried ``max_attempts``
times (one record at a time) and then dead-lettered; a database outage is retried forever
(the partition is rewound, nothing is skipped).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from opentelemetry import trace

from common.db import consumer_offsets, processed_events, utcnow
from common.events import EnvelopeError, EventEnvelope, EventPayload, UnknownEventType, parse_payload
from common.eventstore import Outbox
from common.kafka import create_consumer
from common.metrics import CONSUMER_EVENT_AGE, CONSUMER_EVENTS, CONSUMER_LAG
from common.telemetry import context_from_traceparent, tracer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsumedEvent:
    """An event read from Kafka, with where it was read from."""

    envelope: EventEnvelope
    topic: str
    partition: int
    offset: int

    def payload(self) -> EventPayload:
        """The typed payload (a parse failure sends the record to the dead-letter topic)."""
        return parse_payload(self.envelope)


Handler = Callable[[AsyncSession, ConsumedEvent], Awaitable[None]]
BatchHandler = Callable[[AsyncSession, Sequence[ConsumedEvent]], Awaitable[None]]


def per_event(handler: Handler) -> BatchHandler:
    """Adapt a one-event handler to the batch interface."""

    async def handle_batch(session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
        for ev in events:
            await handler(session, ev)

    return handle_batch

# Errors that say the *record* is bad: retrying cannot help.
_POISON = (EnvelopeError, UnknownEventType, ValidationError)
# Errors that say the *database* is unreachable: retry forever, skip nothing.
_INFRA = (OperationalError, InterfaceError)


class _Poison(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConsumerRunner:
    """Runs a handler for every event of ``topics`` exactly once in effect.

    Give either ``handler`` (one event at a time) or ``batch_handler`` (all new events of a
    partition batch at once: the fast path for projections that write in bulk).
    """

    def __init__(
        self,
        *,
        group_id: str,
        topics: Sequence[str],
        session_factory: async_sessionmaker[AsyncSession],
        bootstrap_servers: str,
        dead_letter_topic: str,
        outbox: Outbox | None = None,
        batch_size: int = 500,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        client_id: str | None = None,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        self.group_id = group_id
        self.topics = list(topics)
        self._handle_batch = batch_handler or per_event(handler)  # type: ignore[arg-type]
        self._sessions = session_factory
        self._bootstrap = bootstrap_servers
        self._dlq_topic = dead_letter_topic
        self._outbox = outbox or Outbox()
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._backoff = retry_backoff_s
        self._client_id = client_id or group_id
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()  # held while a batch is in flight
        self._stopping = asyncio.Event()
        self._started = asyncio.Event()
        self._is_postgres = "postgresql" in str(session_factory.kw["bind"].url)

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Ask the loop to finish the batch in flight, leave the group and return."""
        self._stopping.set()

    async def wait_started(self) -> None:
        await self._started.wait()

    async def run(self) -> None:
        consumer = create_consumer(
            self._bootstrap, self.group_id, self._client_id, max_poll_records=self._batch_size
        )
        self._consumer = consumer
        consumer.subscribe(self.topics, listener=_TrackingListener(self))
        await consumer.start()
        self._started.set()
        last_lag_update = 0.0
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self._batch_size)
                if not batches or self._stopping.is_set():
                    continue
                async with self._lock:
                    owned = consumer.assignment()  # revoked while fetching: the new owner has it
                    work = [(tp, recs) for tp, recs in batches.items() if tp in owned]
                    # Partitions are independent: their transactions run side by side.
                    done = await asyncio.gather(*(self._process(tp, recs) for tp, recs in work))
                commits = {tp: off for (tp, _), off in zip(work, done, strict=True) if off is not None}
                if commits:
                    await self._commit_to_kafka(commits)
                if loop.time() - last_lag_update > 5:
                    await self._update_lag()
                    last_lag_update = loop.time()
        finally:
            async with self._lock:
                await consumer.stop()

    # ------------------------------------------------------------------ processing
    async def _process(self, tp: TopicPartition, records: list[ConsumerRecord]) -> int | None:
        """Process one partition's batch; returns the next offset committed, or None."""
        try:
            return await self._in_transaction(tp, records)
        except _INFRA as exc:
            return await self._rewind(tp, records[0].offset, exc)
        except Exception:
            log.warning("batch of %d from %s failed; isolating records", len(records), tp,
                        exc_info=True)
        committed: int | None = None
        for record in records:
            for attempt in range(1, self._max_attempts + 1):
                try:
                    committed = await self._in_transaction(tp, [record])
                    break
                except _INFRA as exc:
                    return await self._rewind(tp, record.offset, exc)
                except Exception as exc:
                    if attempt == self._max_attempts:
                        committed = await self._dead_letter_one(tp, record, exc)
                    else:
                        await asyncio.sleep(self._backoff * attempt)
        return committed

    async def _in_transaction(self, tp: TopicPartition, records: list[ConsumerRecord]) -> int:
        events: list[ConsumedEvent] = []
        poison: list[tuple[ConsumerRecord, str]] = []
        for rec in records:
            try:
                env = EventEnvelope.from_kafka(rec.key, rec.value, list(rec.headers or ()))
                events.append(ConsumedEvent(env, tp.topic, tp.partition, rec.offset))
            except EnvelopeError as exc:
                poison.append((rec, f"invalid envelope: {exc}"))
        next_offset = records[-1].offset + 1
        async with self._sessions() as session, session.begin():
            fresh = await self._claim(session, [e.envelope.id for e in events])
            new: list[ConsumedEvent] = []
            for ev in events:
                if ev.envelope.id in fresh:
                    fresh.discard(ev.envelope.id)  # a second copy in one batch is a duplicate
                    new.append(ev)
            if new:
                await self._handle(session, new)
            for rec, reason in poison:
                await self._queue_dead_letter(session, tp, rec, reason)
            await self._store_offset(session, tp, next_offset)
        now = utcnow()
        for ev in events:
            CONSUMER_EVENT_AGE.labels(self.group_id, tp.topic).observe(
                max(0.0, (now - ev.envelope.time).total_seconds()))
        CONSUMER_EVENTS.labels(self.group_id, tp.topic, "processed").inc(len(new))
        CONSUMER_EVENTS.labels(self.group_id, tp.topic, "duplicate").inc(len(events) - len(new))
        CONSUMER_EVENTS.labels(self.group_id, tp.topic, "dead_lettered").inc(len(poison))
        return next_offset

    async def _handle(self, session: AsyncSession, events: list[ConsumedEvent]) -> None:
        # One span per batch, linked to the trace of every event it carries.
        links = [trace.Link(trace.get_current_span(ctx).get_span_context())
                 for ctx in (context_from_traceparent(e.envelope.traceparent, e.envelope.tracestate)
                             for e in events if e.envelope.traceparent)]
        first = events[0]
        with tracer().start_as_current_span(
            f"consume {first.topic}",
            context=context_from_traceparent(first.envelope.traceparent, first.envelope.tracestate),
            kind=trace.SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": first.topic,
                "messaging.kafka.destination.partition": first.partition,
                "messaging.batch.message_count": len(events),
                "messaging.consumer.group.name": self.group_id,
            },
        ):
            try:
                await self._handle_batch(session, events)
            except _POISON as exc:
                raise _Poison(f"{type(exc).__name__}: {exc}") from exc

    async def _dead_letter_one(self, tp: TopicPartition, rec: ConsumerRecord, exc: Exception) -> int:
        reason = exc.reason if isinstance(exc, _Poison) else f"handler failed: {type(exc).__name__}: {exc}"
        log.error("dead-lettering %s offset %d: %s", tp, rec.offset, reason)
        async with self._sessions() as session, session.begin():
            try:
                env = EventEnvelope.from_kafka(rec.key, rec.value, list(rec.headers or ()))
                await self._claim(session, [env.id])
            except EnvelopeError:
                pass
            await self._queue_dead_letter(session, tp, rec, reason)
            await self._store_offset(session, tp, rec.offset + 1)
        CONSUMER_EVENTS.labels(self.group_id, tp.topic, "dead_lettered").inc()
        return rec.offset + 1

    async def _queue_dead_letter(
        self, session: AsyncSession, tp: TopicPartition, rec: ConsumerRecord, reason: str
    ) -> None:
        headers = [(n, v) for n, v in (rec.headers or ()) if not n.startswith("x-dlq-")]
        h = dict(headers)
        headers += [
            ("x-dlq-reason", reason[:2000].encode()),
            ("x-dlq-group", self.group_id.encode()),
            ("x-dlq-topic", tp.topic.encode()),
            ("x-dlq-partition", str(tp.partition).encode()),
            ("x-dlq-offset", str(rec.offset).encode()),
        ]
        await self._outbox.add_raw(
            session,
            topic=self._dlq_topic,
            key=rec.key or b"",
            value=rec.value or b"",
            headers=headers,
            tenant_id=h.get("ce_tenantid", b"unknown").decode("utf-8", "replace")[:64],
            event_id=h.get("ce_id", f"{tp.partition}-{rec.offset}".encode()).decode()[:36],
        )

    async def _rewind(self, tp: TopicPartition, offset: int, exc: Exception) -> None:
        log.error("database unavailable (%s); retrying %s from offset %d", exc, tp, offset)
        assert self._consumer is not None
        self._consumer.seek(tp, offset)
        await asyncio.sleep(1.0)
        return None

    # ------------------------------------------------------------------ tracking tables
    def _insert(self, table: Any) -> Any:
        return (postgresql if self._is_postgres else sqlite).insert(table)

    async def _claim(self, session: AsyncSession, event_ids: list[str]) -> set[str]:
        """Record ids as processed by this group; returns those not seen before."""
        if not event_ids:
            return set()
        now = utcnow()
        stmt = (
            self._insert(processed_events)
            .values([{"group_id": self.group_id, "event_id": i, "processed_at": now}
                     for i in dict.fromkeys(event_ids)])
            .on_conflict_do_nothing()
            .returning(processed_events.c.event_id)
        )
        return set((await session.execute(stmt)).scalars())

    async def _store_offset(self, session: AsyncSession, tp: TopicPartition, next_offset: int) -> None:
        stmt = self._insert(consumer_offsets).values(
            group_id=self.group_id, topic=tp.topic, partition=tp.partition,
            next_offset=next_offset, updated_at=utcnow(),
        )
        # Never move backwards (a zombie owner finishing late must not rewind the group).
        keep_max = (func.greatest if self._is_postgres else func.max)(
            consumer_offsets.c.next_offset, stmt.excluded.next_offset
        )
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["group_id", "topic", "partition"],
            set_={"next_offset": keep_max, "updated_at": stmt.excluded.updated_at},
        ))

    async def stored_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        """The next offsets this group stored in the database for ``partitions``."""
        if not partitions:
            return {}
        async with self._sessions() as session:
            result = await session.execute(
                select(consumer_offsets.c.topic, consumer_offsets.c.partition,
                       consumer_offsets.c.next_offset).where(
                    consumer_offsets.c.group_id == self.group_id,
                    consumer_offsets.c.topic.in_({tp.topic for tp in partitions}),
                )
            )
            stored = {TopicPartition(r.topic, r.partition): int(r.next_offset) for r in result}
        return {tp: stored[tp] for tp in partitions if tp in stored}

    # ------------------------------------------------------------------ Kafka side
    async def _commit_to_kafka(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # informational only: the database offset is the truth
            log.debug("kafka commit skipped: %s", exc)

    async def _update_lag(self) -> None:
        assert self._consumer is not None
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            position = await self._consumer.position(tp)
            CONSUMER_LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(
                max(0, highwater - position))

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        assert self._consumer is not None
        stored = await self.stored_offsets(sorted(assigned))
        fresh = [tp for tp in assigned if tp not in stored]
        for tp, offset in stored.items():
            self._consumer.seek(tp, offset)
        if fresh:
            await self._consumer.seek_to_beginning(*fresh)
        log.info("group %s assigned %s", self.group_id, sorted(f"{t.topic}/{t.partition}" for t in assigned))


class _TrackingListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Wait for the batch in flight to commit its offsets before giving partitions up.
        async with self._runner._lock:
            pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._runner._on_assigned(assigned)
