"""The idempotent consumer runner.

For each poll (up to ``batch_size`` records over the assigned partitions), in ONE database
transaction:
  1. claim the event ids in ``processed_events`` (ids seen before are skipped),
  2. run the handler for the new events (its writes use the same session),
  3. queue dead letters for poison records (through the outbox),
  4. store every partition's next offset in ``consumer_offsets``.
Then the offsets are also committed to Kafka, only so that lag is visible to monitoring
and autoscaling. On assignment the runner seeks to the offsets stored in the database, so
a crash anywhere has no double effect and loses nothing. A rebalance waits for the
transaction in flight before the partitions are given up.

Failures: a record that is not a valid event, or whose payload does not parse, goes to the
dead-letter topic with the reason; a handler error makes the runner retry the poll one
record at a time, ``max_attempts`` times per record, then dead-letter that record; a
database outage is retried forever (partitions are rewound, nothing is skipped).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy import String, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import UTCDateTime, consumer_offsets, utcnow
from common.events import EnvelopeError, EventEnvelope, EventPayload, UnknownEventType, parse_payload
from common.eventstore import Outbox
from common.kafka import create_consumer
from common.metrics import CONSUMER_EVENT_AGE, CONSUMER_EVENTS, CONSUMER_LAG
from common.telemetry import context_from_traceparent, tracer

log = logging.getLogger(__name__)

Batch = dict[TopicPartition, list[ConsumerRecord]]


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


# Fixed statement texts (compiled once) for the per-poll bookkeeping.
_CLAIM = {
    "postgresql": text(
        "INSERT INTO processed_events (group_id, event_id, processed_at) "
        "SELECT :group_id, unnest(:ids), :now ON CONFLICT DO NOTHING RETURNING event_id"
    ).bindparams(bindparam("ids", type_=ARRAY(String)), bindparam("now", type_=UTCDateTime)),
    "sqlite": text(
        "INSERT INTO processed_events (group_id, event_id, processed_at) "
        "SELECT :group_id, value, :now FROM json_each(:ids) WHERE true "
        "ON CONFLICT DO NOTHING RETURNING event_id"
    ).bindparams(bindparam("now", type_=UTCDateTime)),
}
_KEEP_MAX = {"postgresql": "GREATEST", "sqlite": "MAX"}
_STORE_OFFSET = {
    dialect: text(
        "INSERT INTO consumer_offsets (group_id, topic, partition, next_offset, updated_at) "
        "VALUES (:group_id, :topic, :partition, :next_offset, :now) "
        "ON CONFLICT (group_id, topic, partition) DO UPDATE SET "
        # Never move backwards: a zombie owner finishing late must not rewind the group.
        f"next_offset = {fn}(consumer_offsets.next_offset, excluded.next_offset), "
        "updated_at = excluded.updated_at"
    ).bindparams(bindparam("now", type_=UTCDateTime))
    for dialect, fn in _KEEP_MAX.items()
}


class ConsumerRunner:
    """Runs a handler for every event of ``topics`` exactly once in effect.

    Give either ``handler`` (one event at a time) or ``batch_handler`` (all new events of a
    poll at once, in per-partition order: the fast path for projections that write in bulk).
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
        self.name = f"consumer:{group_id}"
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
        self._lock = asyncio.Lock()  # held while a transaction is in flight
        # Next offset committed per owned partition: a record below it was already processed
        # (an early fetch can race the seek done on assignment and deliver it again).
        self._committed: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self._dialect = session_factory.kw["bind"].dialect.name

    # ------------------------------------------------------------------ lifecycle
    def stop(self) -> None:
        """Ask the loop to finish the transaction in flight, leave the group and return."""
        self._stopping.set()

    async def run(self) -> None:
        consumer = create_consumer(
            self._bootstrap, self.group_id, self._client_id, max_poll_records=self._batch_size
        )
        self._consumer = consumer
        consumer.subscribe(self.topics, listener=_TrackingListener(self))
        await consumer.start()
        last_lag_update = last_kafka_commit = 0.0
        to_commit: dict[TopicPartition, int] = {}
        loop = asyncio.get_running_loop()
        try:
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=self._batch_size)
                if batch and not self._stopping.is_set():
                    async with self._lock:
                        batch = self._unprocessed(batch, consumer.assignment())
                        offsets = await self._process(batch) if batch else {}
                        self._committed.update(offsets)
                    to_commit.update(offsets)
                # The Kafka commit is informational (lag for monitoring and autoscaling):
                # once a second, off the per-poll path.
                if to_commit and loop.time() - last_kafka_commit > 1.0:
                    await self._commit_to_kafka(to_commit)
                    to_commit, last_kafka_commit = {}, loop.time()
                if loop.time() - last_lag_update > 5:
                    await self._update_lag()
                    last_lag_update = loop.time()
        finally:
            async with self._lock:
                if to_commit:
                    await self._commit_to_kafka(to_commit)
                await consumer.stop()

    # ------------------------------------------------------------------ processing
    def _unprocessed(self, batch: Batch, owned: set[TopicPartition]) -> Batch:
        """Drop partitions revoked while fetching and records already committed."""
        kept: Batch = {}
        for tp, records in batch.items():
            if tp not in owned:
                continue
            floor = self._committed.get(tp, -1)
            fresh = [r for r in records if r.offset >= floor]
            if fresh:
                kept[tp] = fresh
        return kept

    async def _process(self, batch: Batch) -> dict[TopicPartition, int]:
        """Process one poll; returns the next offsets committed per partition."""
        try:
            return await self._in_transaction(batch)
        except _INFRA as exc:
            return await self._rewind({tp: recs[0].offset for tp, recs in batch.items()}, exc)
        except Exception:
            log.warning("a batch of %d records failed; isolating records",
                        sum(map(len, batch.values())), exc_info=True)
        committed: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            for record in records:
                for attempt in range(1, self._max_attempts + 1):
                    try:
                        committed |= await self._in_transaction({tp: [record]})
                        break
                    except _INFRA as exc:
                        await self._rewind({tp: record.offset}, exc)
                        return committed
                    except Exception as exc:
                        if attempt == self._max_attempts:
                            committed |= await self._dead_letter_one(tp, record, exc)
                        else:
                            await asyncio.sleep(self._backoff * attempt)
        return committed

    async def _in_transaction(self, batch: Batch) -> dict[TopicPartition, int]:
        events: list[ConsumedEvent] = []
        poison: list[tuple[TopicPartition, ConsumerRecord, str]] = []
        for tp, records in batch.items():
            for rec in records:
                try:
                    env = EventEnvelope.from_kafka(rec.key, rec.value, rec.headers)
                    events.append(ConsumedEvent(env, tp.topic, tp.partition, rec.offset))
                except EnvelopeError as exc:
                    poison.append((tp, rec, f"invalid envelope: {exc}"))
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        async with self._sessions() as session, session.begin():
            fresh = await self._claim(
                session, [e.envelope.id for e in events] + [self._record_id(tp, r) for tp, r, _ in poison])
            # A poison record has no event id: it is claimed by its position, so a second
            # delivery of the same record is not dead-lettered twice.
            poison = [(tp, r, why) for tp, r, why in poison if self._record_id(tp, r) in fresh]
            new: list[ConsumedEvent] = []
            for ev in events:
                if ev.envelope.id in fresh:
                    fresh.discard(ev.envelope.id)  # a second copy in one poll is a duplicate
                    new.append(ev)
            if new:
                await self._handle(session, new)
            for tp, rec, reason in poison:
                await self._queue_dead_letter(session, tp, rec, reason)
            await self._store_offsets(session, offsets)
        self._observe(events, new, poison)
        return offsets

    def _observe(self, events: list[ConsumedEvent], new: list[ConsumedEvent],
                 poison: list[tuple[TopicPartition, ConsumerRecord, str]]) -> None:
        now = utcnow()
        for topic in {e.topic for e in events}:
            of_topic = [e for e in events if e.topic == topic]
            handled = sum(1 for e in new if e.topic == topic)
            CONSUMER_EVENTS.labels(self.group_id, topic, "processed").inc(handled)
            CONSUMER_EVENTS.labels(self.group_id, topic, "duplicate").inc(len(of_topic) - handled)
            oldest = min(e.envelope.time for e in of_topic)
            CONSUMER_EVENT_AGE.labels(self.group_id, topic).observe(
                max(0.0, (now - oldest).total_seconds()))
        for tp, _, _ in poison:
            CONSUMER_EVENTS.labels(self.group_id, tp.topic, "dead_lettered").inc()

    async def _handle(self, session: AsyncSession, events: list[ConsumedEvent]) -> None:
        # One span per poll, continuing the first event's trace and linked to the others'.
        traced = [e for e in events if e.envelope.traceparent]
        links = [
            trace.Link(trace.get_current_span(
                context_from_traceparent(e.envelope.traceparent, e.envelope.tracestate)
            ).get_span_context())
            for e in traced[1:64]
        ]
        parent = traced[0].envelope if traced else None
        with tracer().start_as_current_span(
            "consume",
            context=context_from_traceparent(parent.traceparent, parent.tracestate) if parent else None,
            kind=trace.SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": ",".join(sorted({e.topic for e in events})),
                "messaging.batch.message_count": len(events),
                "messaging.consumer.group.name": self.group_id,
            },
        ):
            try:
                await self._handle_batch(session, events)
            except _POISON as exc:
                raise _Poison(f"{type(exc).__name__}: {exc}") from exc

    def _record_id(self, tp: TopicPartition, rec: ConsumerRecord) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kafka:{tp.topic}/{tp.partition}/{rec.offset}"))

    async def _dead_letter_one(
        self, tp: TopicPartition, rec: ConsumerRecord, exc: Exception
    ) -> dict[TopicPartition, int]:
        reason = exc.reason if isinstance(exc, _Poison) else f"handler failed: {type(exc).__name__}: {exc}"
        log.error("dead-lettering %s offset %d: %s", tp, rec.offset, reason)
        async with self._sessions() as session, session.begin():
            try:
                claimed = await self._claim(
                    session, [EventEnvelope.from_kafka(rec.key, rec.value, rec.headers).id])
            except EnvelopeError:
                claimed = await self._claim(session, [self._record_id(tp, rec)])
            if claimed:
                await self._queue_dead_letter(session, tp, rec, reason)
            await self._store_offsets(session, {tp: rec.offset + 1})
        CONSUMER_EVENTS.labels(self.group_id, tp.topic, "dead_lettered").inc()
        return {tp: rec.offset + 1}

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

    async def _rewind(self, offsets: dict[TopicPartition, int], exc: Exception) -> dict[TopicPartition, int]:
        log.error("database unavailable (%s); will retry from %s", exc, offsets)
        assert self._consumer is not None
        for tp, offset in offsets.items():
            self._consumer.seek(tp, offset)
        await asyncio.sleep(1.0)
        return {}

    # ------------------------------------------------------------------ tracking tables
    async def _claim(self, session: AsyncSession, event_ids: list[str]) -> set[str]:
        """Record ids as processed by this group; returns those not seen before."""
        if not event_ids:
            return set()
        ids = list(dict.fromkeys(event_ids))
        result = await session.execute(_CLAIM[self._dialect], {
            "group_id": self.group_id, "now": utcnow(),
            "ids": ids if self._dialect == "postgresql" else json.dumps(ids),
        })
        return set(result.scalars())

    async def _store_offsets(self, session: AsyncSession, offsets: dict[TopicPartition, int]) -> None:
        now = utcnow()
        await session.execute(_STORE_OFFSET[self._dialect], [
            {"group_id": self.group_id, "topic": tp.topic, "partition": tp.partition,
             "next_offset": offset, "now": now}
            for tp, offset in offsets.items()
        ])

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
        owned = self._consumer.assignment()
        offsets = {tp: off for tp, off in offsets.items() if tp in owned}
        if not offsets:
            return
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

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Seek every assigned partition to the offset stored in the database."""
        assert self._consumer is not None
        stored = await self.stored_offsets(sorted(assigned))
        self._committed = dict(stored)
        for tp, offset in stored.items():
            self._consumer.seek(tp, offset)
        fresh = [tp for tp in assigned if tp not in stored]
        if fresh:
            await self._consumer.seek_to_beginning(*fresh)
        log.info("group %s assigned %s", self.group_id,
                 sorted(f"{t.topic}/{t.partition}" for t in assigned))

    async def on_revoked(self) -> None:
        """Wait for the transaction in flight to commit before partitions are given up."""
        async with self._lock:
            pass


class _TrackingListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._runner.on_revoked()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._runner.on_assigned(assigned)
