"""pytest plugin: one real Kafka broker and one real PostgreSQL server per test session.

Register with ``pytest_plugins = ["common.testing.infra_fixtures"]`` (root conftest) or
``-p common.testing.infra_fixtures``. Fixtures ``kafka_broker`` and ``postgres_server`` run the
local processes of :mod:`common.infra` (Kafka version from ``$KADEN_KAFKA_VERSION``), or
testcontainers when ``KADEN_USE_TESTCONTAINERS=1`` and a Docker engine answers. They never
skip: infrastructure that cannot start fails the tests that need it, with the reason.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import pytest

from common.infra.kafka_local import LocalKafkaBroker, kafka_version
from common.infra.postgres_local import (
    LocalPostgres,
    PostgresInfraError,
    find_pg_bin,
    server_version,
)

# Confluent Platform images for testcontainers' KafkaContainer: CP 7.9 ships Apache Kafka 3.9,
# CP 8.1 ships Apache Kafka 4.1. Override with $KADEN_KAFKA_IMAGE.
_KAFKA_IMAGES = {"3": "confluentinc/cp-kafka:7.9.0", "4": "confluentinc/cp-kafka:8.1.0"}
_POSTGRES_IMAGE = "postgres:15"  # the major version Debian 12 installs locally
_STARTED = pytest.StashKey[list[str]]()
_T = TypeVar("_T")


class KafkaService(Protocol):
    """What ``kafka_broker`` gives a test."""

    @property
    def bootstrap_servers(self) -> str: ...

    @property
    def version(self) -> str: ...


class PostgresService(Protocol):
    """What ``postgres_server`` gives a test."""

    @property
    def version(self) -> str: ...

    def dsn(self, database: str = "postgres", driver: str | None = "asyncpg") -> str: ...

    def create_database(self, name: str) -> None: ...


@functools.cache
def use_testcontainers() -> bool:
    """``KADEN_USE_TESTCONTAINERS=1`` and ``docker info`` succeeds (within 20 s)."""
    if os.environ.get("KADEN_USE_TESTCONTAINERS") != "1":
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _kafka_image(version: str) -> str:
    """The Confluent image standing in for Apache Kafka ``version`` (or $KADEN_KAFKA_IMAGE)."""
    image = os.environ.get("KADEN_KAFKA_IMAGE") or _KAFKA_IMAGES.get(version.split(".")[0])
    if image is None:
        raise ValueError(f"no Confluent image known for Kafka {version}: set KADEN_KAFKA_IMAGE")
    return image


class _ContainerKafka:
    """testcontainers' (Confluent) KafkaContainer in KRaft mode behind ``KafkaService``."""

    def __init__(self, version: str) -> None:
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:  # testcontainers before the "community" package layout
            from testcontainers.kafka import KafkaContainer

        self.version = _kafka_image(version)
        self._container = KafkaContainer(self.version).with_kraft()

    @property
    def bootstrap_servers(self) -> str:
        return str(self._container.get_bootstrap_server())

    def start(self) -> _ContainerKafka:
        self._container.start(timeout=120)
        return self

    def stop(self) -> None:
        self._container.stop()


class _ContainerPostgres:
    """testcontainers' PostgresContainer behind ``PostgresService``."""

    def __init__(self) -> None:
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # testcontainers before the "community" package layout
            from testcontainers.postgres import PostgresContainer

        self._container = PostgresContainer(_POSTGRES_IMAGE)
        self.version = _POSTGRES_IMAGE

    def start(self) -> _ContainerPostgres:
        self._container.start()
        return self

    def stop(self) -> None:
        self._container.stop()

    def dsn(self, database: str = "postgres", driver: str | None = "asyncpg") -> str:
        c = self._container
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return (f"{scheme}://{c.username}:{c.password}@{c.get_container_host_ip()}:"
                f"{c.get_exposed_port(c.port)}/{database}")

    def create_database(self, name: str) -> None:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self._create_database(name)).result()

    async def _create_database(self, name: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.dsn(driver=None))
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                quoted = '"' + name.replace('"', '""') + '"'
                with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                    await conn.execute(f"CREATE DATABASE {quoted}")
        finally:
            await conn.close()


def _start(start: Callable[[], _T], what: str) -> _T:
    """``start()``'s result, or a test failure (never a skip) saying why ``what`` failed."""
    try:
        return start()
    except Exception as exc:
        message = f"{what} could not start: {exc}"
    pytest.fail(message, pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STARTED] = []


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test by the infrastructure it really uses (directly or through other
    fixtures), so ``-m kafka`` selects every broker test: ``make test`` reruns those on
    Kafka 4.x. Runs before ``-m`` deselects."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "kafka_broker" in names:
            item.add_marker(pytest.mark.kafka)
        if "postgres_server" in names:
            item.add_marker(pytest.mark.postgres)


def pytest_report_header(config: pytest.Config) -> list[str]:
    version = kafka_version()
    if use_testcontainers():
        try:
            kafka = f"kafka: testcontainers {_kafka_image(version)} (KRaft)"
        except ValueError as exc:
            kafka = f"kafka: {exc}"
        return [kafka, f"postgresql: testcontainers {_POSTGRES_IMAGE}"]
    kafka = (f"kafka: Apache Kafka {version}, local KRaft broker from Maven Central jars "
             f"(KADEN_KAFKA_VERSION={os.environ.get('KADEN_KAFKA_VERSION', 'unset')})")
    if os.environ.get("KADEN_USE_TESTCONTAINERS") == "1":
        kafka += "; KADEN_USE_TESTCONTAINERS=1 but no Docker engine answers"
    try:
        bin_dir = find_pg_bin()
        postgres = f"postgresql: PostgreSQL {server_version(bin_dir)}, local cluster ({bin_dir})"
    except PostgresInfraError:
        postgres = "postgresql: not installed yet (apt-get installs it on first use, as root)"
    return [kafka, postgres]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if config.stash.get(_STARTED, []):
        terminalreporter.section("infrastructure")
        for line in config.stash[_STARTED]:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kafka_broker(pytestconfig: pytest.Config) -> Iterator[KafkaService]:
    """A running Kafka broker for the whole session (topics are not auto-created)."""
    version = kafka_version()
    began = time.monotonic()
    broker: LocalKafkaBroker | _ContainerKafka = _start(
        lambda: (_ContainerKafka(version) if use_testcontainers()
                 else LocalKafkaBroker(version)).start(),
        f"the Kafka {version} broker")
    kind = "testcontainers" if use_testcontainers() else "local Apache Kafka"
    pytestconfig.stash[_STARTED].append(
        f"kafka: {kind} {broker.version} at {broker.bootstrap_servers}, "
        f"started in {time.monotonic() - began:.1f} s")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_server(pytestconfig: pytest.Config) -> Iterator[PostgresService]:
    """A running PostgreSQL server for the whole session; tests ``create_database`` their own."""
    began = time.monotonic()
    server: LocalPostgres | _ContainerPostgres = _start(
        lambda: (_ContainerPostgres() if use_testcontainers() else LocalPostgres()).start(),
        "PostgreSQL")
    kind = "testcontainers" if use_testcontainers() else "local PostgreSQL"
    pytestconfig.stash[_STARTED].append(
        f"postgresql: {kind} {server.version} at {server.dsn(driver=None)}, "
        f"started in {time.monotonic() - began:.1f} s")
    try:
        yield server
    finally:
        server.stop()
