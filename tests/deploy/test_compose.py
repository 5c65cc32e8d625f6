"""docker-compose.yml matches the code: each service runs its real app factory, its
environment is settings the service has and accepts, its database exists, and it reaches
the broker where the broker says it is. (No Docker engine here: the file is checked, not
run; see the file's header.)"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from simulator.devstack import SERVICES, StackConfig

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # resolves the << merges


def environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment with ``${VAR:?message}`` interpolations given a value."""
    return {k: re.sub(r"\$\{[^}]*\}", "x" * 48, str(v)) for k, v in service["environment"].items()}


def test_kafka_advertises_what_the_services_and_the_topics_job_dial(
        compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]["environment"]
    advertised = dict(re.findall(r"(\w+)://([^,]+)", kafka["KAFKA_ADVERTISED_LISTENERS"]))
    bootstrap = advertised["PLAINTEXT"]
    assert bootstrap.split(":")[1] in kafka["KAFKA_LISTENERS"]
    topics = compose["services"]["topics"]["command"]
    assert topics[:2] == ["kaden", "topics"] and topics[topics.index("--bootstrap") + 1] == bootstrap
    for name in SERVICES:
        assert environment(compose["services"][name])["KADEN_KAFKA_BOOTSTRAP_SERVERS"] == bootstrap


@pytest.mark.parametrize("name", SERVICES)
def test_service_runs_its_app_with_settings_it_accepts(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    spec = importlib.import_module(f"{name}.main").SPEC
    assert callable(importlib.import_module(f"{name}.main").create_app)
    assert service["command"][:3] == ["uvicorn", "--factory", f"{name}.main:create_app"]
    env = environment(service)
    fields = {f"KADEN_{field.upper()}" for field in spec.settings_cls.model_fields}
    assert set(env) <= fields, set(env) - fields  # a typo would be silently ignored
    settings = spec.settings_cls(**{k.removeprefix("KADEN_").lower(): v for k, v in env.items()})
    assert settings.role == "all" and settings.migrate_on_start
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.database_url.rsplit("/", 1)[1] == name
    assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert "/readyz" in " ".join(service["healthcheck"]["test"])


def test_every_service_database_is_created(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["postgres"]["volumes"]
    [script] = [m.split(":")[0] for m in mounts if "docker-entrypoint-initdb.d" in m]
    created = set(re.findall(r"CREATE DATABASE (\w+);", (ROOT / script).read_text()))
    assert created == set(SERVICES)


def test_apis_on_the_ports_of_make_run(compose: dict[str, Any]) -> None:
    base = StackConfig(run_dir=Path(".run")).base_port
    for i, name in enumerate(SERVICES):
        assert compose["services"][name]["ports"] == [f"127.0.0.1:{base + i}:8000"]


def test_registry_copies_on_a_volume_the_image_lets_the_service_write(
        compose: dict[str, Any]) -> None:
    compliance = compose["services"]["compliance"]
    directory = environment(compliance)["KADEN_REGISTRY_DIR"]
    assert any(v.split(":")[1] == directory for v in compliance["volumes"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.search(r"^USER (\d+)", dockerfile, re.M)
    assert user and f"chown {user.group(1)} {directory}" in dockerfile
