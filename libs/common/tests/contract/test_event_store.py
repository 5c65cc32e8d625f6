"""Event store + outbox contract: runs unchanged on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import event_store, outbox
from common.events import EventEnvelope
from common.events.catalog import LeadClosedV1
from common.eventstore import ConcurrencyError, EventStore, Outbox


def closed(lead: str, reason: str = "done") -> LeadClosedV1:
    return LeadClosedV1(lead_id=lead, list_id="list-1", reason=reason)


@pytest.fixture
def store() -> EventStore:
    return EventStore(source="/kaden/test", outbox_=Outbox(topic_prefix="p."))


async def count(sessions: async_sessionmaker[AsyncSession], table: object) -> int:
    async with sessions() as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_append_then_load_round_trips_in_order(store: EventStore, sessions) -> None:
    async with sessions() as s, s.begin():
        await store.append(s, tenant_id="t1", stream_id="lead-1", expected_version=0,
                           payloads=[closed("lead-1", "a"), closed("lead-1", "b")])
    async with sessions() as s, s.begin():
        await store.append(s, tenant_id="t1", stream_id="lead-1", expected_version=2,
                           payloads=[closed("lead-1", "c")])
    async with sessions() as s:
        events = await store.load(s, tenant_id="t1", stream_id="lead-1")
        assert [e.version for e in events] == [1, 2, 3]
        assert [e.envelope.data["reason"] for e in events] == ["a", "b", "c"]
        assert all(e.envelope.tenantid == "t1" for e in events)
        assert await store.current_version(s, tenant_id="t1", stream_id="lead-1") == 3
        assert len(await store.load(s, tenant_id="t1", stream_id="lead-1", after_version=2)) == 1


async def test_streams_are_tenant_scoped(store: EventStore, sessions) -> None:
    async with sessions() as s, s.begin():
        await store.append(s, tenant_id="t1", stream_id="same-id", expected_version=0,
                           payloads=[closed("x", "t1-secret")])
        # Another tenant may use the same stream id without conflicting or seeing t1's events.
        await store.append(s, tenant_id="t2", stream_id="same-id", expected_version=0,
                           payloads=[closed("x", "t2")])
    async with sessions() as s:
        t2 = await store.load(s, tenant_id="t2", stream_id="same-id")
        assert [e.envelope.data["reason"] for e in t2] == ["t2"]
        assert await store.load(s, tenant_id="t3", stream_id="same-id") == []


async def test_stale_expected_version_raises_and_session_stays_usable(store: EventStore, sessions) -> None:
    async with sessions() as s, s.begin():
        await store.append(s, tenant_id="t1", stream_id="s", expected_version=0, payloads=[closed("s")])
    async with sessions() as s, s.begin():
        with pytest.raises(ConcurrencyError):
            await store.append(s, tenant_id="t1", stream_id="s", expected_version=0,
                               payloads=[closed("s", "late")])
        # the savepoint rolled back only the failed append
        await store.append(s, tenant_id="t1", stream_id="other", expected_version=0,
                           payloads=[closed("other")])
    assert await count(sessions, event_store) == 2
    assert await count(sessions, outbox) == 2


async def test_concurrent_appends_to_one_stream_exactly_one_wins(store: EventStore, sessions) -> None:
    writers = 8

    async def write(i: int) -> bool:
        try:
            async with sessions() as s, s.begin():
                await store.append(s, tenant_id="t1", stream_id="hot", expected_version=0,
                                   payloads=[closed("hot", f"writer-{i}")])
            return True
        except ConcurrencyError:
            return False

    results = await asyncio.gather(*(write(i) for i in range(writers)))
    assert sum(results) == 1
    async with sessions() as s:
        events = await store.load(s, tenant_id="t1", stream_id="hot")
    assert len(events) == 1
    assert await count(sessions, outbox) == 1  # the losers queued nothing


async def test_outbox_row_carries_cloudevent_and_rolls_back_with_the_state(
    store: EventStore, sessions
) -> None:
    with pytest.raises(RuntimeError):
        async with sessions() as s, s.begin():
            await store.append(s, tenant_id="t1", stream_id="r", expected_version=0,
                               payloads=[closed("r")])
            raise RuntimeError("handler failed after append")
    assert await count(sessions, event_store) == 0
    assert await count(sessions, outbox) == 0

    async with sessions() as s, s.begin():
        [env] = await store.append(s, tenant_id="t1", stream_id="r", expected_version=0,
                                   payloads=[closed("r")])
    async with sessions() as s:
        row = (await s.execute(select(outbox))).one()
    assert row.topic == "p.leads"
    decoded = EventEnvelope.from_kafka(row.key, row.value, [(n, v.encode()) for n, v in row.headers])
    assert decoded.id == env.id
    assert decoded.type == "callcenter.lead.closed.v1"
    assert decoded.tenantid == "t1"
    assert decoded.key == "r"
    assert row.published_at is None


async def test_append_many_is_one_all_or_nothing_write(store: EventStore, sessions) -> None:
    from common.eventstore import StreamAppend

    async with sessions() as s, s.begin():
        envs = await store.append_many(s, tenant_id="t1", appends=[
            StreamAppend(f"bulk-{i}", 0, [closed(f"bulk-{i}"), closed(f"bulk-{i}", "again")])
            for i in range(50)])
    assert len(envs) == 100
    assert await count(sessions, event_store) == 100 and await count(sessions, outbox) == 100
    async with sessions() as s:
        assert [e.version for e in await store.load(s, tenant_id="t1", stream_id="bulk-7")] == [1, 2]

    # one stale stream fails the whole batch; nothing of it is stored
    async with sessions() as s, s.begin():
        with pytest.raises(ConcurrencyError):
            await store.append_many(s, tenant_id="t1", appends=[
                StreamAppend("fresh", 0, [closed("fresh")]),
                StreamAppend("bulk-3", 1, [closed("bulk-3", "late")]),
            ])
    assert await count(sessions, event_store) == 100 and await count(sessions, outbox) == 100
