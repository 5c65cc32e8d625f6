"""The watermark of the ``compliance-facts`` consumer: up to when are the facts complete?

Attempts, refusals, consents and campaign settings reach screening through the facts
consumer; when it stalls or falls behind, caps and refusal bans would be evaluated on
partial history (fail open). So the facts worker checks, every
``facts_watermark_interval_s``, the end offset of every partition of its topics (a
snapshot at instant ``t``) against the offsets the group stored in the database with its
writes. Once the stored offsets reach a snapshot's ends, every event published before
``t`` is in the facts tables: ``caught_up_at = t`` (row ``facts_watermarks``).

A quiet system stays fresh (stored offsets equal the ends at every check, whatever the
age of the last event); a busy one lags by about one check interval (older snapshots are
reached); a stalled or dead consumer (or watermark loop) stops advancing it. Screening
blocks ``facts.stale`` when ``caught_up_at`` is older than ``facts_max_lag_s`` or absent.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Gauge
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.clock import Clock
from common.consumer import ConsumerRunner
from compliance.adapters.facts_tables import dialect_insert, facts_watermarks

log = logging.getLogger(__name__)

FACTS_GROUP = "compliance-facts"
_SNAPSHOTS = 256  # end-offset snapshots kept while the consumer catches up

FACTS_LAG = Gauge("kaden_compliance_facts_lag_records",
                  "Records the compliance-facts consumer is behind the partition ends")


def lag(ends: Mapping[TopicPartition, int], begins: Mapping[TopicPartition, int],
        stored: Mapping[TopicPartition, int]) -> int:
    """Records between the stored offsets and ``ends`` (a partition the group never
    stored counts from its beginning: empty or fully expired, it is not behind)."""
    return sum(max(0, end - stored.get(tp, begins.get(tp, 0))) for tp, end in ends.items())


async def caught_up_at(session: AsyncSession, group_id: str) -> datetime | None:
    """The group's watermark (None: never caught up, or no watermark yet)."""
    return (await session.execute(select(facts_watermarks.c.caught_up_at).where(
        facts_watermarks.c.group_id == group_id))).scalar()


class FactsWatermark:
    """The loop that advances ``facts_watermarks`` for ``runner``'s group."""

    def __init__(self, runner: ConsumerRunner, sessions: async_sessionmaker[AsyncSession],
                 bootstrap_servers: str, clock: Clock, interval_s: float) -> None:
        self._runner = runner
        self._sessions = sessions
        self._bootstrap = bootstrap_servers
        self._clock = clock
        self._interval_s = interval_s
        self._snapshots: deque[tuple[datetime, dict[TopicPartition, int]]] = deque(
            maxlen=_SNAPSHOTS)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the check in flight and return from :meth:`run`."""
        self._stopping.set()

    async def run(self) -> None:
        """Check every ``interval_s`` until stopped; a failed check advances nothing (the
        watermark ages: fail closed)."""
        kafka: AIOKafkaConsumer | None = None
        try:
            while not self._stopping.is_set():
                try:
                    if kafka is None:
                        kafka = AIOKafkaConsumer(bootstrap_servers=self._bootstrap,
                                                 client_id=f"{self._runner.group_id}-watermark",
                                                 enable_auto_commit=False)
                        await kafka.start()
                    await self.check(kafka)
                except Exception as exc:
                    log.warning("facts watermark check failed: %s: %s", type(exc).__name__, exc)
                    if kafka is not None:
                        await kafka.stop()
                    kafka = None
                try:
                    await asyncio.wait_for(self._stopping.wait(), self._interval_s)
                except TimeoutError:
                    pass
        finally:
            if kafka is not None:
                await kafka.stop()

    async def check(self, kafka: AIOKafkaConsumer) -> None:
        """Snapshot the ends, compare with the stored offsets, store the watermark."""
        at = self._clock.now()
        topics = await kafka.topics()  # refreshes the metadata
        partitions = [TopicPartition(t, p) for t in self._runner.topics if t in topics
                      for p in sorted(kafka.partitions_for_topic(t) or ())]
        ends = await kafka.end_offsets(partitions) if partitions else {}
        begins = await kafka.beginning_offsets(partitions) if partitions else {}
        self._snapshots.append((at, dict(ends)))
        stored = await self._runner.stored_offsets(partitions)
        reached = [t for t, snapshot in self._snapshots if lag(snapshot, begins, stored) == 0]
        behind = lag(ends, begins, stored)
        FACTS_LAG.set(behind)
        if reached:
            while self._snapshots and self._snapshots[0][0] < reached[-1]:
                self._snapshots.popleft()
        await self._store(reached[-1] if reached else None, at, behind)

    async def _store(self, caught_up: datetime | None, at: datetime, behind: int) -> None:
        t = facts_watermarks
        async with self._sessions() as session, session.begin():
            current = (await session.execute(select(t.c.caught_up_at).where(
                t.c.group_id == self._runner.group_id).with_for_update())).first()
            if current is not None and current.caught_up_at is not None and (
                    caught_up is None or caught_up < current.caught_up_at):
                caught_up = current.caught_up_at  # never backwards (several facts pods)
            values = {"group_id": self._runner.group_id, "caught_up_at": caught_up,
                      "checked_at": at, "lag": behind}
            stmt = dialect_insert(session, t).values(**values)
            await session.execute(stmt.on_conflict_do_update(
                index_elements=["group_id"],
                set_={k: stmt.excluded[k] for k in values if k != "group_id"}))
