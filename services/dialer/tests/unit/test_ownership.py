"""Campaign ownership by partition, and the AMD misclassification estimate."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from dialer.app.budgets import misclassified_people
from dialer.app.ownership import Ownership, partition_of


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
