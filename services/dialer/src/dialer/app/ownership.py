"""Which campaigns this dialer process paces: partition ownership of the campaign key.

A campaign's events are keyed by ``campaign_id`` on the ``campaigns`` topic, so Kafka's
default partitioner (murmur2, as aiokafka's ``DefaultPartitioner`` and the Java client)
maps each campaign to one partition. Every dialer process joins one dedicated consumer
group on that topic (``dialer-pacing``) only to be assigned partitions: the group
coordinator guarantees each partition one member at a time, so each campaign has exactly
one pacing loop. The records themselves are not needed (the campaigns table is the
truth): each partition is read from its end.

On revocation the listener waits for the dialing pass in flight (``lock``) and stops
pacing those campaigns before the partitions are handed over; calls already placed are
followed to their end by the task that follows them. Processes heart-beat in
``dialer_instances``; the new owner ends the live calls of its campaigns whose follower
stopped heart-beating (a crash lost their gateway legs), never another live process's.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.partitioner import murmur2
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from common.kafka import create_consumer
from dialer.app.metrics import OWNED_CAMPAIGN_PARTITIONS

log = logging.getLogger(__name__)


_METADATA_TRIES = 10
_NONCE_HEX = 12  # hex digits of the per-start nonce of an instance id


def new_instance_id(name: str | None) -> str:
    """The id of this start of a dialer process: ``<name>-<nonce>``.

    ``name`` (``KADEN_INSTANCE_ID``, e.g. the pod name) survives a container restart; the
    nonce does not, so the calls of an earlier start never look alive (see
    :func:`earlier_starts_of`). Without a name, a random one: no other start matches it.
    """
    return f"{name or 'dialer-' + uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:_NONCE_HEX]}"


async def database_now(session: AsyncSession) -> datetime:
    """The database server's current time, UTC: the heartbeats of every dialer process
    are written and judged on it, so neither a long pass nor a shifted platform clock of
    one process makes another's live calls look orphaned."""
    if session.get_bind().dialect.name == "sqlite":  # CURRENT_TIMESTAMP has no fraction there
        text = await session.scalar(select(func.strftime("%Y-%m-%d %H:%M:%f", "now")))
        return datetime.fromisoformat(str(text)).replace(tzinfo=UTC)
    now = await session.scalar(select(func.now()))
    assert isinstance(now, datetime)
    return now.astimezone(UTC)


def earlier_starts_of(owner: ColumnElement[str], name: str,
                      instance_id: str) -> ColumnElement[bool]:
    """SQL: ``owner`` is another start (``<name>-<nonce>``) of the process named ``name``
    than ``instance_id`` (``dialer-1`` never matches ``dialer-10-…``)."""
    return and_(owner != instance_id, owner.startswith(f"{name}-", autoescape=True),
                func.length(owner) == len(name) + 1 + _NONCE_HEX)


def partition_of(campaign_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner puts the key ``campaign_id`` in."""
    return int(murmur2(campaign_id.encode()) & 0x7FFFFFFF) % partitions


class Ownership:
    """The set of campaign partitions this process owns (all of them when ``static``)."""

    def __init__(self, *, static: bool = False) -> None:
        self.static = static
        self.lock = asyncio.Lock()  # held by the dialing pass; revocation waits for it
        self._partitions = 0
        self._owned: frozenset[int] = frozenset()
        self.on_change: list[Callable[[], None]] = []

    def owns(self, campaign_id: str) -> bool:
        """Whether this process paces ``campaign_id`` now."""
        if self.static:
            return True
        if not self._partitions or not self._owned:
            return False
        return partition_of(campaign_id, self._partitions) in self._owned

    @property
    def owned(self) -> frozenset[int]:
        return self._owned

    async def assign(self, partitions: set[int], total: int) -> None:
        async with self.lock:
            self._partitions, self._owned = total, frozenset(partitions)
        OWNED_CAMPAIGN_PARTITIONS.set(len(partitions))
        for callback in self.on_change:
            callback()

    async def revoke(self) -> None:
        async with self.lock:  # the pass in flight finishes; the next one owns nothing
            self._owned = frozenset()
        OWNED_CAMPAIGN_PARTITIONS.set(0)
        for callback in self.on_change:
            callback()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: OwnershipWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._worker.ownership.revoke()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._worker.assigned(assigned)


class OwnershipWorker:
    """Keeps this process in the ``dialer-pacing`` group and ``ownership`` up to date."""

    name = "pacing-ownership"

    def __init__(self, ownership: Ownership, *, bootstrap_servers: str, group_id: str,
                 topic: str, client_id: str) -> None:
        self.ownership = ownership
        self._bootstrap = bootstrap_servers
        self._group = group_id
        self._topic = topic
        self._client_id = client_id
        self._stopping = asyncio.Event()
        self._consumer = None

    def stop(self) -> None:
        self._stopping.set()

    async def _partition_count(self) -> int:
        """Partitions of the campaigns topic; the metadata may not be cached yet at the
        first assignment, so it is fetched (a few tries) rather than taken as 0 (which
        would own partitions and pace nothing)."""
        assert self._consumer is not None
        for attempt in range(_METADATA_TRIES):
            partitions = self._consumer.partitions_for_topic(self._topic)
            if partitions:
                return len(partitions)
            await self._consumer.topics()  # refreshes the cluster metadata
            await asyncio.sleep(0.1 * attempt)
        log.warning("no partition count for %s after %d tries", self._topic, _METADATA_TRIES)
        return 0

    async def assigned(self, assigned: set[TopicPartition]) -> None:
        assert self._consumer is not None
        total = await self._partition_count()
        mine = {tp.partition for tp in assigned if tp.topic == self._topic}
        if assigned:
            await self._consumer.seek_to_end(*assigned)
        log.info("pacing ownership: partitions %s of %d", sorted(mine), total)
        await self.ownership.assign(mine, total)

    async def run(self) -> None:
        consumer = create_consumer(self._bootstrap, self._group, self._client_id)
        self._consumer = consumer
        consumer.subscribe([self._topic], listener=_Listener(self))
        await consumer.start()
        try:
            while not self._stopping.is_set():
                await consumer.getmany(timeout_ms=500)  # keeps the membership alive
        finally:
            await self.ownership.revoke()
            await consumer.stop()
