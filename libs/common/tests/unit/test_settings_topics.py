from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.settings import ServiceSettings
from common.topics import TOPICS, Topic, physical_name


def test_sync_database_urls_are_refused_with_the_fix() -> None:
    with pytest.raises(ValidationError, match="async driver"):
        ServiceSettings(database_url="postgresql://u@h/db")


def test_settings_come_from_kaden_environment(monkeypatch) -> None:
    monkeypatch.setenv("KADEN_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("KADEN_ROLE", "worker")
    s = ServiceSettings()
    assert s.kafka_bootstrap_servers == "k1:9092,k2:9092" and s.role == "worker"
    monkeypatch.setenv("KADEN_ROLE", "everything")
    with pytest.raises(ValidationError):
        ServiceSettings()


def test_every_topic_is_declared_once_with_a_key() -> None:
    assert set(TOPICS) == set(Topic)
    assert all(spec.key and spec.partitions > 0 for spec in TOPICS.values())
    assert TOPICS[Topic.DNC].config["cleanup.policy"] == "compact"
    assert physical_name(Topic.CALLS, "test-1.") == "test-1.calls"
