"""Campaign ownership by partition, instance ids, campaign metric series, and the AMD
misclassification estimate."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from dialer.app.budgets import misclassified_people
from dialer.app.metrics import ABANDON_RATE, LINES_DIALED, TRUNK_HELD_BACK, forget_campaign
from dialer.app.ownership import Ownership, OwnershipWorker, new_instance_id, partition_of


@given(campaign_id=st.text(min_size=1, max_size=60), partitions=st.integers(1, 64))
def test_partition_matches_the_kafka_default_partitioner(campaign_id: str, partitions: int) -> None:
    every = list(range(partitions))
    expected = DefaultPartitioner()(campaign_id.encode(), every, every)
    assert partition_of(campaign_id, partitions) == expected


async def test_ownership_follows_assignment_and_revocation() -> None:
    ownership = Ownership()
    ids = [f"campaign-{i}" for i in range(20)]
    assert not any(ownership.owns(c) for c in ids)  # nothing before the first assignment
    await ownership.assign({1}, 2)
    assert {c for c in ids if ownership.owns(c)} == {c for c in ids if partition_of(c, 2) == 1}
    await ownership.revoke()
    assert not any(ownership.owns(c) for c in ids)
    assert all(Ownership(static=True).owns(c) for c in ids)


def test_misclassified_people_are_rounded_up() -> None:
    assert misclassified_people(0, 0.1) == 0
    assert misclassified_people(10, 0.1) == 1
    assert misclassified_people(11, 0.1) == 2
    assert misclassified_people(10, 0.0) == 0


class _ColdConsumer:
    """A consumer whose metadata is not cached at the first assignment."""

    def __init__(self) -> None:
        self.known = False

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0, 1, 2} if self.known else None

    async def topics(self) -> set[str]:
        self.known = True
        return {"campaigns"}

    async def seek_to_end(self, *partitions: TopicPartition) -> None:
        return None


async def test_an_assignment_before_the_metadata_is_cached_still_owns_its_campaigns() -> None:
    ownership = Ownership()
    worker = OwnershipWorker(ownership, bootstrap_servers="unused", group_id="g",
                             topic="campaigns", client_id="c")
    worker._consumer = _ColdConsumer()  # type: ignore[assignment]
    await worker.assigned({TopicPartition("campaigns", 1)})
    ids = [f"campaign-{i}" for i in range(30)]
    assert {c for c in ids if ownership.owns(c)} == {c for c in ids if partition_of(c, 3) == 1}


def test_each_start_gets_its_own_instance_id_under_its_name() -> None:
    first, second = new_instance_id("pod-1"), new_instance_id("pod-1")
    assert first != second and first.startswith("pod-1-") and second.startswith("pod-1-")
    assert len(first) == len("pod-1-") + 12
    assert new_instance_id(None) != new_instance_id(None)


def test_a_campaign_no_longer_paced_leaves_no_series_behind() -> None:
    LINES_DIALED.labels("campaign-gone", "power").inc(3)
    TRUNK_HELD_BACK.labels("campaign-gone").inc()
    ABANDON_RATE.labels("campaign-gone").set(0.01)
    forget_campaign("campaign-gone")
    for name, labels in (
            ("kaden_dialer_lines_dialed_total", {"campaign_id": "campaign-gone", "mode": "power"}),
            ("kaden_dialer_trunk_held_back_total", {"campaign_id": "campaign-gone"}),
            ("kaden_dialer_abandon_rate", {"campaign_id": "campaign-gone"})):
        assert REGISTRY.get_sample_value(name, labels) is None, name
