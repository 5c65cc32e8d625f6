"""Event backbone benchmark: outbox relay and tracked consumer vs a raw aiokafka consume.

    .venv/bin/python bench/backbone/run.py [--events 50000] [--kafka-version 3.9.2]

Starts its own real Kafka broker and PostgreSQL server (like the tests), then measures on
the same topic and machine:
  * append      EventStore.append (+ outbox rows), 100 events per transaction
  * relay       outbox -> Kafka through the idempotent producer, rows marked published
  * raw         AIOKafkaConsumer.getmany over every partition, nothing else
  * raw+decode  the same, parsing every record into an EventEnvelope
  * tracked     ConsumerRunner: dedupe ids + handler row + offsets in one transaction per
                partition batch (batch handler inserting one row per event), end to end
Prints a table and writes bench/results/backbone.{md,json}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from common.consumer import ConsumedEvent, ConsumerRunner
from common.db import consumer_offsets, core_metadata, create_engine, create_session_factory
from common.events import EventEnvelope, build_envelope
from common.events.catalog import LeadClosedV1
from common.eventstore import EventStore, Outbox
from common.infra.kafka_local import LocalKafkaBroker
from common.infra.postgres_local import LocalPostgres
from common.kafka import create_producer
from common.relay import OutboxRelay
from common.testing.kafka_tools import create_topic, produce

RESULTS = Path(__file__).resolve().parents[1] / "results"
PARTITIONS = 6
bench_metadata = MetaData()
effects = Table("bench_effects", bench_metadata,
                Column("id", Integer, primary_key=True, autoincrement=True),
                Column("event_id", String(36), nullable=False),
                Column("lead_id", String(64), nullable=False))


async def fresh_db(url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(url, pool_size=PARTITIONS + 2)
    async with engine.begin() as conn:
        await conn.run_sync(core_metadata.create_all)
        await conn.run_sync(bench_metadata.create_all)
    return engine, create_session_factory(engine)


async def bench_append_and_relay(url: str, bootstrap: str, n: int, tag: str) -> dict[str, float]:
    engine, sessions = await fresh_db(url)
    prefix = f"bench-{tag}-{int(time.time())}."
    await create_topic(bootstrap, f"{prefix}leads", PARTITIONS)
    store = EventStore("/kaden/bench", Outbox(prefix))
    t0 = time.perf_counter()
    for start in range(0, n, 100):
        async with sessions() as s, s.begin():
            for i in range(start, min(start + 100, n)):
                await store.append(s, tenant_id="bench", stream_id=f"lead-{i}", expected_version=0,
                                   payloads=[LeadClosedV1(lead_id=f"lead-{i}", list_id="l", reason="x")])
    append_s = time.perf_counter() - t0
    producer = create_producer(bootstrap, "bench-relay")
    await producer.start()
    relay = OutboxRelay(sessions, producer, "bench", batch_size=1000)
    t0 = time.perf_counter()
    while await relay.run_once():
        pass
    relay_s = time.perf_counter() - t0
    await producer.stop()
    await engine.dispose()
    return {"append_eps": n / append_s, "relay_eps": n / relay_s}


async def bench_raw(bootstrap: str, topic: str, n: int, decode: bool) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_poll_records=500, fetch_max_bytes=16 * 1024 * 1024)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    seen = 0
    t0 = time.perf_counter()
    while seen < n:
        for records in (await consumer.getmany(timeout_ms=500, max_records=500)).values():
            if decode:
                for r in records:
                    EventEnvelope.from_kafka(r.key, r.value, r.headers)
            seen += len(records)
    elapsed = time.perf_counter() - t0
    await consumer.stop()
    return n / elapsed


async def bench_tracked(url: str, bootstrap: str, topic: str, n: int, batch: bool) -> dict[str, float]:
    engine, sessions = await fresh_db(url)
    first: list[float] = []

    async def handle_batch(session: Any, events: Any) -> None:
        if not first:
            first.append(time.perf_counter())
        await session.execute(insert(effects), [
            {"event_id": e.envelope.id, "lead_id": e.envelope.key} for e in events])

    async def handle_one(session: Any, event: ConsumedEvent) -> None:
        if not first:
            first.append(time.perf_counter())
        await session.execute(insert(effects).values(event_id=event.envelope.id,
                                                     lead_id=event.envelope.key))

    group = f"bench-{'batch' if batch else 'single'}-{time.time_ns()}"
    runner = ConsumerRunner(group_id=group, topics=[topic], session_factory=sessions,
                            bootstrap_servers=bootstrap, dead_letter_topic="unused",
                            batch_size=500, **({"batch_handler": handle_batch} if batch
                                               else {"handler": handle_one}))
    t0 = time.perf_counter()
    task = asyncio.create_task(runner.run())
    while True:
        await asyncio.sleep(0.05)
        async with sessions() as s:
            done = (await s.execute(select(func.coalesce(func.sum(consumer_offsets.c.next_offset), 0))
                                    .where(consumer_offsets.c.group_id == group))).scalar_one()
        if done >= n:
            break
    end = time.perf_counter()
    runner.stop()
    await task
    async with sessions() as s:
        count = (await s.execute(select(func.count()).select_from(effects))).scalar_one()
    assert count == n, f"expected {n} effects, got {count}"
    await engine.dispose()
    return {"eps_steady": n / (end - first[0]), "eps_total": n / (end - t0)}


async def main_async(args: argparse.Namespace, broker: LocalKafkaBroker, pg: LocalPostgres,
                     tmp: Path) -> dict[str, Any]:
    bs, n = broker.bootstrap_servers, args.events
    pg.create_database("bench_relay")
    results: dict[str, Any] = {}
    print(f"append + relay of {n} events ...", file=sys.stderr)
    results["postgres"] = await bench_append_and_relay(pg.dsn("bench_relay"), bs, n, "pg")
    results["sqlite"] = await bench_append_and_relay(f"sqlite+aiosqlite:///{tmp}/relay.db", bs, n, "lite")
    topic = await create_topic(bs, f"bench-consume-{int(time.time())}", PARTITIONS)
    print(f"producing {n} events to {topic} ...", file=sys.stderr)
    envs = [build_envelope(LeadClosedV1(lead_id=f"lead-{i}", list_id="l", reason="x"),
                           tenant_id="bench", source="/kaden/bench") for i in range(n)]
    for start in range(0, n, 10_000):
        await produce(bs, topic, envs[start:start + 10_000])
    print("raw consume ...", file=sys.stderr)
    results["raw_eps"] = max([await bench_raw(bs, topic, n, decode=False) for _ in range(2)])
    results["raw_decode_eps"] = await bench_raw(bs, topic, n, decode=True)
    for backend, make_url in (("postgres", lambda k: pg.dsn(k)),
                              ("sqlite", lambda k: f"sqlite+aiosqlite:///{tmp}/{k}.db")):
        for batch in (True, False):
            key = f"tracked_{'batch' if batch else 'per_event'}"
            db = f"bench_{key}"
            if backend == "postgres":
                pg.create_database(db)
            print(f"{key} on {backend} ...", file=sys.stderr)
            results[backend][key] = await bench_tracked(make_url(db), bs, topic, n, batch)
    return results


def render(results: dict[str, Any], args: argparse.Namespace, kafka: str, pg: str) -> str:
    raw = results["raw_eps"]
    rows = [
        ("raw aiokafka consume (baseline)", raw, None),
        ("raw consume + envelope decode", results["raw_decode_eps"], None),
    ]
    for backend in ("postgres", "sqlite"):
        r = results[backend]
        rows += [
            (f"{backend}: EventStore.append (+outbox)", r["append_eps"], None),
            (f"{backend}: outbox relay -> Kafka", r["relay_eps"], None),
            (f"{backend}: tracked consumer, batch handler", r["tracked_batch"]["eps_steady"],
             r["tracked_batch"]["eps_total"]),
            (f"{backend}: tracked consumer, per-event handler", r["tracked_per_event"]["eps_steady"],
             r["tracked_per_event"]["eps_total"]),
        ]
    lines = [
        f"# Event backbone benchmark ({datetime.now(UTC):%Y-%m-%d})",
        "",
        f"`.venv/bin/python bench/backbone/run.py --events {args.events}` — {args.events} events, "
        f"{PARTITIONS} partitions, Kafka {kafka}, PostgreSQL {pg}, SQLite, "
        f"Python {platform.python_version()}, {platform.machine()}, 2 cores (shared with the "
        "broker and the database).",
        "",
        "| path | events/s | vs raw | events/s incl. group join |",
        "|---|---:|---:|---:|",
    ]
    for name, eps, total in rows:
        ratio = f"{eps / raw:.0%}" if "tracked" in name else ""
        lines.append(f"| {name} | {eps:,.0f} | {ratio} | {f'{total:,.0f}' if total else ''} |")
    lines += ["", "Target: tracked consumer (PostgreSQL, batch handler) at >= 50% of the raw rate."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--kafka-version", default=None)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, \
            LocalKafkaBroker(version=args.kafka_version) as broker, LocalPostgres() as pg:
        # uvloop, as the services run under uvicorn
        results = uvloop.run(main_async(args, broker, pg, Path(tmp)))
        table = render(results, args, broker.version, pg.version)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backbone.md").write_text(table)
    (RESULTS / "backbone.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
