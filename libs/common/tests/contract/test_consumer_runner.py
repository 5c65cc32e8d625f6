"""Idempotent consumer contract on real Kafka, on SQLite and PostgreSQL.

Each test checks the effect table, which the handler writes in the runner's transaction:
every event must have exactly one effect row, whatever crashed or rebalanced.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.consumer import ConsumedEvent, ConsumerRunner, Handler
from common.kafka import create_producer
from common.relay import OutboxRelay
from common.testing.kafka_tools import create_topic, produce, produce_raw, read_all, unique_name

from .conftest import effect_counts, make_events, record_effect

pytestmark = [pytest.mark.kafka, pytest.mark.usefixtures("effect_tables")]


def runner(kafka_broker, sessions, topic: str, handler: Handler, group: str, dlq: str = "unused",
           **kw) -> ConsumerRunner:
    return ConsumerRunner(group_id=group, topics=[topic], handler=handler, session_factory=sessions,
                          bootstrap_servers=kafka_broker.bootstrap_servers, dead_letter_topic=dlq,
                          retry_backoff_s=0.01, **kw)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout_s: float = 45.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


async def run_until(r: ConsumerRunner, check: Callable[[], Awaitable[bool]]) -> None:
    task = asyncio.create_task(r.run())
    try:
        await wait_until(check)
    finally:
        r.stop()
        await asyncio.wait_for(task, 30)


async def relay_outbox_once(bootstrap: str, sessions: async_sessionmaker[AsyncSession]) -> None:
    """Publish what the runner queued in the outbox (dead letters)."""
    producer = create_producer(bootstrap, "test-relay")
    await producer.start()
    try:
        await OutboxRelay(sessions, producer, "test").run_once()
    finally:
        await producer.stop()


def all_once(sessions: async_sessionmaker[AsyncSession], ids: list[str]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        counts = await effect_counts(sessions)
        assert all(c == 1 for c in counts.values()), f"double effect: {counts}"
        return set(counts) == set(ids)
    return check


async def test_processes_every_event_once_and_resumes_from_stored_offsets(
    kafka_broker, sessions
) -> None:
    topic = await create_topic(kafka_broker.bootstrap_servers, unique_name(), partitions=3)
    first = make_events(60)
    await produce(kafka_broker.bootstrap_servers, topic, first)
    r1 = runner(kafka_broker, sessions, topic, record_effect, unique_name("g"))
    await run_until(r1, all_once(sessions, [e.id for e in first]))

    stored = await r1.stored_offsets([TopicPartition(topic, p) for p in range(3)])
    assert sum(stored.values()) == 60
    # the same offsets reached Kafka, so lag is visible to monitoring and autoscaling
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    try:
        in_kafka = await admin.list_consumer_group_offsets(r1.group_id)
    finally:
        await admin.close()
    assert {tp: meta.offset for tp, meta in in_kafka.items()} == stored

    # A new runner of the same group starts where the database says: old events not redone.
    second = make_events(15, prefix="more")
    await produce(kafka_broker.bootstrap_servers, topic, second)
    r2 = runner(kafka_broker, sessions, topic, record_effect, r1.group_id)
    await run_until(r2, all_once(sessions, [e.id for e in first + second]))


async def test_duplicate_deliveries_have_one_effect(kafka_broker, sessions) -> None:
    topic = await create_topic(kafka_broker.bootstrap_servers, unique_name())
    events = make_events(20)
    # The relay may publish an event twice (crash before marking): same ids, twice.
    await produce(kafka_broker.bootstrap_servers, topic, events + events[:7])
    r = runner(kafka_broker, sessions, topic, record_effect, unique_name("g"))
    await run_until(r, all_once(sessions, [e.id for e in events]))
    stored = await r.stored_offsets([TopicPartition(topic, 0)])
    assert stored[TopicPartition(topic, 0)] == 27  # the duplicates were consumed, not redone


async def test_crash_between_handling_and_commit_has_no_double_effect(kafka_broker, sessions) -> None:
    topic = await create_topic(kafka_broker.bootstrap_servers, unique_name())
    events = make_events(30)
    await produce(kafka_broker.bootstrap_servers, topic, events)
    crash_on = events[12].id
    crashed = asyncio.Event()

    async def crashing(session: AsyncSession, ev: ConsumedEvent) -> None:
        await record_effect(session, ev)  # the effect is written ...
        if ev.envelope.id == crash_on and not crashed.is_set():
            crashed.set()
            raise asyncio.CancelledError  # ... and the process dies before the commit

    group = unique_name("g")
    r1 = runner(kafka_broker, sessions, topic, crashing, group, batch_size=5)
    task = asyncio.create_task(r1.run())
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    before = await effect_counts(sessions)
    assert crash_on not in before  # rolled back with its offset
    assert 0 < len(before) < 30

    r2 = runner(kafka_broker, sessions, topic, record_effect, group)
    await run_until(r2, all_once(sessions, [e.id for e in events]))


async def test_crash_after_db_commit_before_kafka_commit_does_not_redo(
    kafka_broker, sessions, monkeypatch
) -> None:
    topic = await create_topic(kafka_broker.bootstrap_servers, unique_name())
    events = make_events(25)
    await produce(kafka_broker.bootstrap_servers, topic, events)
    group = unique_name("g")
    r1 = runner(kafka_broker, sessions, topic, record_effect, group)

    async def lost_commit(offsets: dict[TopicPartition, int]) -> None:
        return None  # the Kafka commit never happens (process died right after the DB commit)

    monkeypatch.setattr(r1, "_commit_to_kafka", lost_commit)
    await run_until(r1, all_once(sessions, [e.id for e in events]))

    handled_again: list[str] = []

    async def spy(session: AsyncSession, ev: ConsumedEvent) -> None:
        handled_again.append(ev.envelope.id)
        await record_effect(session, ev)

    more = make_events(5, prefix="late")
    await produce(kafka_broker.bootstrap_servers, topic, more)
    r2 = runner(kafka_broker, sessions, topic, spy, group)
    await run_until(r2, all_once(sessions, [e.id for e in events + more]))
    assert handled_again == [e.id for e in more]  # Kafka had no offset; the DB did


async def test_poison_records_go_to_dead_letter_with_reason(kafka_broker, sessions) -> None:
    bs = kafka_broker.bootstrap_servers
    topic = await create_topic(bs, unique_name())
    dlq = await create_topic(bs, unique_name("dlq"))
    good = make_events(10)
    bad_payload = make_events(1, prefix="bad")[0].model_copy(update={"data": {"lead_id": 1}})
    failing = make_events(1, prefix="fails")[0]
    await produce(bs, topic, good[:5])
    await produce_raw(bs, topic, b"k", b"not an event")
    await produce(bs, topic, [bad_payload, failing, *good[5:]])
    attempts: dict[str, int] = {}

    async def handler(session: AsyncSession, ev: ConsumedEvent) -> None:
        ev.payload()  # a payload that does not parse is poison
        if ev.envelope.id == failing.id:
            attempts[failing.id] = attempts.get(failing.id, 0) + 1
            raise RuntimeError("downstream rule exploded")
        await record_effect(session, ev)

    r = runner(kafka_broker, sessions, topic, handler, unique_name("g"), dlq=dlq, max_attempts=3)
    await run_until(r, all_once(sessions, [e.id for e in good]))
    # max_attempts isolated tries, plus one inside a whole-batch try when the batch reached it
    assert attempts[failing.id] in (3, 4)
    await relay_outbox_once(bs, sessions)
    dead = await read_all(bs, dlq, expect=3)
    reasons = {json.loads(d.value).get("lead_id", None) if d.value != b"not an event" else "raw":
               dict(d.headers)["x-dlq-reason"].decode() for d in dead}
    assert len(dead) == 3
    assert reasons["raw"].startswith("invalid envelope: missing CloudEvents header")
    assert "ValidationError" in reasons[1]
    assert "downstream rule exploded" in reasons["fails-0"]
    assert all(dict(d.headers)["x-dlq-topic"].decode() == topic for d in dead)
    stored = await r.stored_offsets([TopicPartition(topic, 0)])
    assert stored[TopicPartition(topic, 0)] == 13  # nothing left behind the poison


async def test_rebalance_between_two_consumers_loses_nothing_and_doubles_nothing(
    kafka_broker, sessions
) -> None:
    bs = kafka_broker.bootstrap_servers
    topic = await create_topic(bs, unique_name(), partitions=4)
    group = unique_name("g")
    events = make_events(400)

    async def slow(session: AsyncSession, ev: ConsumedEvent) -> None:
        await asyncio.sleep(0.002)  # keep batches in flight while the group rebalances
        await record_effect(session, ev)

    a = runner(kafka_broker, sessions, topic, slow, group, batch_size=20)
    b = runner(kafka_broker, sessions, topic, slow, group, batch_size=20)
    ta = asyncio.create_task(a.run())
    await produce(bs, topic, events[:200])
    await wait_until(lambda: _has_effects(sessions, 30))
    tb = asyncio.create_task(b.run())  # rebalance 1: B joins
    await produce(bs, topic, events[200:])
    await wait_until(lambda: _has_effects(sessions, 250))
    a.stop()  # rebalance 2: A leaves mid-stream
    await asyncio.wait_for(ta, 30)
    try:
        await wait_until(all_once(sessions, [e.id for e in events]), timeout_s=90)
    finally:
        b.stop()
        await asyncio.wait_for(tb, 30)


async def _has_effects(sessions: async_sessionmaker[AsyncSession], n: int) -> bool:
    return sum((await effect_counts(sessions)).values()) >= n


@pytest.mark.parametrize("defence", ["committed_floor", "poison_claim"])
async def test_redelivered_records_are_neither_redone_nor_dead_lettered_twice(
    kafka_broker, sessions, monkeypatch, defence
) -> None:
    """An early fetch can race the seek done on assignment and deliver committed records
    again. Either defence alone must hold: the in-memory committed floor, or the claim of
    events by id and of poison records by their position."""
    bs = kafka_broker.bootstrap_servers
    topic = await create_topic(bs, unique_name())
    dlq = await create_topic(bs, unique_name("dlq"))
    events = make_events(8)
    await produce(bs, topic, events[:4])
    await produce_raw(bs, topic, b"k", b"garbage")
    await produce(bs, topic, events[4:])
    group = unique_name("g")

    async def no_kafka_commit(offsets: dict[TopicPartition, int]) -> None:
        return None

    first = runner(kafka_broker, sessions, topic, record_effect, group, dlq=dlq)
    monkeypatch.setattr(first, "_commit_to_kafka", no_kafka_commit)
    await run_until(first, all_once(sessions, [e.id for e in events]))

    second = runner(kafka_broker, sessions, topic, record_effect, group, dlq=dlq)
    monkeypatch.setattr(second, "_commit_to_kafka", no_kafka_commit)

    async def assigned_without_seek(assigned: set[TopicPartition]) -> None:
        # Kafka has no committed offset: the consumer starts from the beginning again.
        second._committed = dict(await second.stored_offsets(sorted(assigned)))
        await second._consumer.seek_to_beginning(*assigned)

    monkeypatch.setattr(second, "on_assigned", assigned_without_seek)
    if defence == "poison_claim":
        monkeypatch.setattr(second, "_unprocessed", lambda batch, owned: batch)
    more = make_events(2, prefix="late")
    await produce(bs, topic, more)
    await run_until(second, all_once(sessions, [e.id for e in events + more]))
    await relay_outbox_once(bs, sessions)
    assert len(await read_all(bs, dlq, timeout_s=5)) == 1
