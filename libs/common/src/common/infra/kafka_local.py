"""A real single-node Apache Kafka broker (KRaft) run from Maven Central jars, no Docker.

``fetch_jars`` caches the broker's jars (fetched by Maven with the packaged ``kafka-pom.xml``);
``LocalKafkaBroker`` formats a data dir, runs ``kafka.Kafka`` and waits until it answers.
CLI: ``python -m common.infra.kafka_local fetch|run [--version V]``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import concurrent.futures
import contextlib
import importlib.resources
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

DEFAULT_KAFKA_VERSION = "3.9.2"
_MAVEN_PROFILES = {3: "kafka-3", 4: "kafka-4"}
_COMPLETE_MARKER = ".complete"
_STOP_GRACE_S = 15.0
_PROBE_INTERVAL_S = 0.25
# The one-shot StorageTool JVM: C1 only and serial GC start ~2 s faster on 2 cores.
_TOOL_JVM_OPTIONS = ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]

# Runs beside the broker and stops it: when the parent closes the pipe on stdin (``stop()``) or
# dies, even by SIGKILL, it sends SIGTERM to the broker's process group, SIGKILL after the
# grace period, then removes a temporary data dir. argv: pgid, grace in seconds, dir or "".
_WATCHDOG = """
import os, shutil, signal, sys, time
sys.stdin.buffer.read()
pgid, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
try:
    os.killpg(pgid, signal.SIGTERM)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        os.killpg(pgid, 0)
    os.killpg(pgid, signal.SIGKILL)
except ProcessLookupError:
    pass
if sys.argv[3]:
    shutil.rmtree(sys.argv[3], ignore_errors=True)
"""
# Broker output goes to stdout (the log file): per major version, the config file's name,
# content and the JVM option naming it; log4j 1.x (reload4j) for 3.x, log4j2 for 4.x.
_LOGGING = {
    3: ("log4j.properties", "-Dlog4j.configuration=file:{}", """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
"""),
    4: ("log4j2.properties", "-Dlog4j2.configurationFile={}", """\
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
"""),
}
# Single node: broker and controller in one process, every replication factor and min ISR 1
# (Kafka 3.9 ignores the share.coordinator settings, with a warning).
_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{cport}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}
advertised.listeners=PLAINTEXT://{host}:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={log_dirs}
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
"""


class KafkaInfraError(RuntimeError):
    """The local Kafka broker could not be fetched, formatted or started."""


def kafka_version(version: str | None = None) -> str:
    """The Kafka version to use: ``version``, else ``$KADEN_KAFKA_VERSION``, else the default."""
    return version or os.environ.get("KADEN_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION


def _major(version: str) -> int:
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version)
    if match is None or int(match[1]) not in _MAVEN_PROFILES:
        raise KafkaInfraError(f"unsupported Kafka version {version!r}: use 3.9.x or 4.x.y")
    return int(match[1])


def cache_dir() -> Path:
    """Root of Kaden's download cache: ``$KADEN_CACHE_DIR``, else ``~/.cache/kaden``."""
    return Path(os.environ.get("KADEN_CACHE_DIR") or Path.home() / ".cache" / "kaden")


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise KafkaInfraError(
            f"`{tool}` not found on PATH: the local Kafka broker needs a JDK (17+) and Maven "
            "(Debian: apt-get install -y openjdk-17-jdk-headless maven)"
        )
    return path


def fetch_jars(version: str | None = None) -> Path:
    """Return the dir holding Kafka ``version``'s jars, fetching them with Maven if needed.

    The jars are copied to a temporary sibling dir and renamed into place with a marker file,
    so an interrupted fetch is never taken for a complete one.
    """
    version = kafka_version(version)
    profile = _MAVEN_PROFILES[_major(version)]
    libs = cache_dir() / "kafka" / version / "libs"
    if (libs / _COMPLETE_MARKER).exists():
        return libs
    mvn = _require("mvn")
    _require("java")
    libs.parent.mkdir(parents=True, exist_ok=True)
    if libs.exists():  # left by something other than this function: not trusted
        shutil.rmtree(libs)
    print(f"fetching Kafka {version} jars from Maven Central…", file=sys.stderr, flush=True)
    pom_resource = importlib.resources.files("common.infra") / "kafka-pom.xml"
    with (
        tempfile.TemporaryDirectory(dir=libs.parent, prefix=".libs-") as staging,
        importlib.resources.as_file(pom_resource) as pom,
    ):
        target = Path(staging) / "libs"
        command = [mvn, "-B", "-q", "-f", str(pom), "-P", profile, f"-Dkafka.version={version}",
                   "dependency:copy-dependencies", "-DincludeScope=runtime",
                   f"-DoutputDirectory={target}"]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not any(target.glob("kafka_2.13-*.jar")):
            output = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)[-4000:]
            raise KafkaInfraError(f"fetching Kafka {version} jars failed:\n{output}")
        (target / _COMPLETE_MARKER).touch()
        try:
            target.rename(libs)
        except OSError:  # a concurrent fetch finished first
            if not (libs / _COMPLETE_MARKER).exists():
                raise
    print(f"Kafka {version} jars cached in {libs}", file=sys.stderr, flush=True)
    return libs


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port(host: str = "127.0.0.1", count: int = 1) -> int:
    """The first of ``count`` consecutive TCP ports on ``host`` that are free right now.

    The ports come from below the kernel's ephemeral range: a port the OS hands out for
    ``bind(0)`` is in that range, and so are the local ports of outgoing connections, so a
    server started a moment later (after its own Kafka client connected, say) can find it
    taken. Below the range, only an explicit bind can take a port."""
    low, _ = _ephemeral_range()
    floor = min(15000, max(1024, low - 10000))
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(floor, low - count)
        if all(_bindable(host, first + i) for i in range(count)):
            return first
    raise OSError(f"no {count} consecutive free TCP ports on {host} in [{floor}, {low})")


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def describe_cluster(bootstrap_servers: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """Kafka's DescribeCluster answer within ``timeout_s`` seconds, asked from a private event
    loop in a helper thread, so it works whether or not the caller runs an event loop."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def describe() -> dict[str, Any]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                    request_timeout_ms=max(1, int(timeout_s * 1000)))
        try:
            async with asyncio.timeout(timeout_s):
                await admin.start()
                return dict(await admin.describe_cluster())
        finally:
            await admin.close()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-probe") as pool:
        return pool.submit(asyncio.run, describe()).result()


class LocalKafkaBroker:
    """One KRaft broker+controller on ``host``, all replication factors and min ISR 1.

    ``port``/``controller_port`` 0 pick free ports; ``heap`` is the JVM's -Xmx (at least 256m);
    without ``data_dir`` a temporary one is used and removed on ``stop``; the broker's output
    goes to ``log_file`` (default ``<data_dir>/broker.log``).
    """

    def __init__(self, version: str | None = None, data_dir: str | Path | None = None,
                 host: str = "127.0.0.1", port: int = 0, controller_port: int = 0,
                 heap: str = "512m", log_file: str | Path | None = None) -> None:
        self._version = kafka_version(version)
        _major(self._version)
        self._data_dir_arg = Path(data_dir) if data_dir is not None else None
        self._log_file_arg = Path(log_file) if log_file is not None else None
        self._host, self._port, self._controller_port = host, port, controller_port
        self._heap = heap
        self._data_dir: Path | None = None
        self._log_file: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def version(self) -> str:
        """The Kafka version, e.g. ``"3.9.2"``."""
        return self._version

    @property
    def bootstrap_servers(self) -> str:
        """``"host:port"`` of the PLAINTEXT listener (known once started)."""
        if not self._port:
            raise KafkaInfraError("the broker's port is chosen on start(); start it first")
        return f"{self._host}:{self._port}"

    @property
    def log_file(self) -> Path | None:
        """The file receiving the broker's output (``None`` before ``start``)."""
        return self._log_file

    def start(self, timeout: float = 60.0) -> LocalKafkaBroker:
        """Format storage if needed, start the broker and wait up to ``timeout`` seconds
        for it to answer (a first jar fetch comes on top)."""
        if self._process is not None:
            return self
        libs = fetch_jars(self._version)
        java = _require("java")
        deadline = time.monotonic() + timeout
        temporary = self._data_dir_arg is None
        self._data_dir = self._data_dir_arg or Path(tempfile.mkdtemp(prefix="kaden-kafka-"))
        try:
            self._launch(libs, java, temporary)
            self._wait_ready(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _launch(self, libs: Path, java: str, temporary: bool) -> None:
        assert self._data_dir is not None
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._log_file = self._log_file_arg or self._data_dir / "broker.log"
        if not self._port and not self._controller_port:
            self._port = free_port(self._host, count=2)
            self._controller_port = self._port + 1
        self._port = self._port or free_port(self._host)
        self._controller_port = self._controller_port or free_port(self._host)
        config = self._data_dir / "server.properties"
        config.write_text(_SERVER_PROPERTIES.format(
            host=self._host, port=self._port, cport=self._controller_port,
            log_dirs=self._data_dir / "kraft-logs"))
        log_config_name, log_option, log_config = _LOGGING[_major(self._version)]
        (self._data_dir / log_config_name).write_text(log_config)
        common = [log_option.format(self._data_dir / log_config_name), "-cp", f"{libs}/*"]
        with self._log_file.open("ab") as log:
            self._format([java, *_TOOL_JVM_OPTIONS, *common], config, log)
            self._process = subprocess.Popen(
                [java, "-Xms256m", f"-Xmx{self._heap}", "-Djava.awt.headless=true", *common,
                 "kafka.Kafka", str(config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, str(self._process.pid), str(_STOP_GRACE_S),
             str(self._data_dir) if temporary else ""],
            stdin=subprocess.PIPE, start_new_session=True,
        )
        atexit.register(self.stop)

    def _format(self, jvm: list[str], config: Path, log: IO[bytes]) -> None:
        """Format KRaft storage once per data dir.

        Skipped when ``meta.properties`` exists: ``--ignore-formatted`` alone still fails on
        a formatted dir unless given the same cluster id, and costs a JVM start (~2 s).
        """
        assert self._data_dir is not None
        if (self._data_dir / "kraft-logs" / "meta.properties").exists():
            return
        cluster_id = secrets.token_urlsafe(16)  # 22 chars: url-safe base64 of 16 random bytes
        # "--cluster-id=<id>", not "-t <id>": an id starting with "-" would read as a flag.
        result = subprocess.run(
            [*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
             f"--config={config}", "--ignore-formatted"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=False,
        )
        if result.returncode != 0:
            raise KafkaInfraError(f"formatting Kafka storage failed:{self._log_tail()}")

    def _wait_ready(self, deadline: float) -> None:
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise KafkaInfraError(f"Kafka {self._version} exited with code "
                                      f"{self._process.returncode} on start-up:{self._log_tail()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KafkaInfraError(f"Kafka {self._version} did not answer on "
                                      f"{self.bootstrap_servers} in time:{self._log_tail()}")
            with contextlib.suppress(Exception):
                # A plain connect first keeps aiokafka from logging refused connections.
                socket.create_connection((self._host, self._port), timeout=1.0).close()
                if describe_cluster(self.bootstrap_servers, min(5.0, remaining))["brokers"]:
                    return
            time.sleep(_PROBE_INTERVAL_S)

    def _log_tail(self, lines: int = 25) -> str:
        """The broker log's ERROR/FATAL and ``Caused by`` lines, then its last ``lines`` lines
        (start-up failures end in pages of shutdown messages that hide the cause)."""
        if self._log_file is None or not self._log_file.exists():
            return " (no broker log)"
        text = self._log_file.read_text(errors="replace").splitlines()
        errors = [line for line in text if re.search(r"\] (ERROR|FATAL) |^Caused by:", line)]
        return (f"\n--- errors in {self._log_file} ---\n" + "\n".join(errors[-15:])
                + "\n--- last lines ---\n" + "\n".join(text[-lines:]))

    def stop(self) -> None:
        """Stop the broker (SIGTERM, SIGKILL after 15 s); remove a temporary data dir."""
        atexit.unregister(self.stop)
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            assert watchdog.stdin is not None
            watchdog.stdin.close()  # the watchdog now stops the broker
        if self._process is not None:
            try:  # reaped here, so the watchdog sees the process group end
                self._process.wait(_STOP_GRACE_S + 5)
            except subprocess.TimeoutExpired:  # the watchdog is gone
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
            self._process = None
        if watchdog is not None:
            watchdog.wait()
        if self._data_dir_arg is None and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> LocalKafkaBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """CLI: ``fetch`` caches the jars; ``run`` serves a broker until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m common.infra.kafka_local")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help="fetch and cache the broker's jars")
    run = commands.add_parser("run", help="run a broker in the foreground")
    for sub in (fetch, run):
        sub.add_argument("--version", help=f"Kafka version (default {DEFAULT_KAFKA_VERSION}, "
                         "or $KADEN_KAFKA_VERSION)")
    run.add_argument("--port", type=int, default=9092, help="PLAINTEXT port (0 = any free)")
    run.add_argument("--data-dir", type=Path, help="persistent data dir (default: temporary)")
    args = parser.parse_args(argv)
    if args.command == "fetch":
        print(fetch_jars(args.version))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    broker = LocalKafkaBroker(version=args.version, data_dir=args.data_dir, port=args.port)
    with broker, contextlib.suppress(KeyboardInterrupt):
        print(f"Kafka {broker.version} ready: bootstrap servers {broker.bootstrap_servers} "
              f"(log: {broker.log_file})", flush=True)
        signal.pause()


if __name__ == "__main__":
    main()
