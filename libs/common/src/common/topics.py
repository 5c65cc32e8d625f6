"""The topic registry: every Kafka topic, its partitions, retention and key, in one place.

Event topics keep their whole history (``retention.ms=-1``) so projections can be
rebuilt from the beginning; ``dnc`` is compacted (latest state per list+number).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from enum import StrEnum

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

log = logging.getLogger(__name__)


class Topic(StrEnum):
    """Logical topic names; the physical name is ``<prefix><name>``."""

    LEADS = "leads"
    COMPLIANCE = "compliance"
    DNC = "dnc"
    CAMPAIGNS = "campaigns"
    CALLS = "calls"
    AGENTS = "agents"
    PACING = "pacing"
    DEAD_LETTER = "deadletter"


@dataclass(frozen=True)
class TopicSpec:
    topic: Topic
    key: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    description: str = ""


_KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}

TOPICS: dict[Topic, TopicSpec] = {
    s.topic: s
    for s in (
        TopicSpec(Topic.LEADS, "lead_id", 12, _KEEP_FOREVER, "lead lifecycle"),
        TopicSpec(Topic.COMPLIANCE, "lead_id", 12, _KEEP_FOREVER, "compliance decisions"),
        TopicSpec(
            Topic.DNC,
            "tenant/list:E.164",
            6,
            {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"},
            "do-not-call entries, latest state per list and number",
        ),
        TopicSpec(Topic.CAMPAIGNS, "campaign_id", 6, _KEEP_FOREVER, "campaign lifecycle"),
        TopicSpec(Topic.CALLS, "call_id", 12, _KEEP_FOREVER, "call lifecycle"),
        TopicSpec(Topic.AGENTS, "agent_id", 12, _KEEP_FOREVER, "agent states, dispositions"),
        TopicSpec(Topic.PACING, "campaign_id", 6, {"retention.ms": str(7 * 86_400_000)},
                  "pacing decisions (explanations), kept 7 days"),
        TopicSpec(Topic.DEAD_LETTER, "original key", 3, _KEEP_FOREVER,
                  "records a consumer could not process, with the reason in headers"),
    )
}


def physical_name(topic: Topic | str, prefix: str = "") -> str:
    """The Kafka topic name for a logical topic under a deployment/test prefix."""
    return f"{prefix}{topic}"


async def ensure_topics(
    bootstrap_servers: str,
    prefix: str = "",
    partitions_override: int | None = None,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create every registered topic that does not exist yet; idempotent.

    ``partitions_override`` lets the embedded default and tests use fewer partitions.
    Returns the physical names of the topics it created.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await asyncio.wait_for(admin.list_topics(), timeout_s))
        wanted = [
            NewTopic(
                name=physical_name(spec.topic, prefix),
                num_partitions=partitions_override or spec.partitions,
                replication_factor=replication_factor,
                topic_configs=dict(spec.config),
            )
            for spec in TOPICS.values()
            if physical_name(spec.topic, prefix) not in existing
        ]
        if not wanted:
            return []
        try:
            await asyncio.wait_for(admin.create_topics(wanted), timeout_s)
        except TopicAlreadyExistsError:
            pass  # a concurrent bootstrap won the race: fine
        except KafkaError as exc:
            raise RuntimeError(f"could not create Kafka topics: {exc}") from exc
        created = [t.name for t in wanted]
        log.info("created topics %s", created)
        return created
    finally:
        await admin.close()
