"""The embedded platform behind ``make run``: a local Kafka broker, every service on
SQLite, health-checked, until Ctrl-C stops everything cleanly.

Everything lives under the run directory (``.run/`` by default, ``KADEN_RUN_DIR``):
``kafka/`` (broker data), ``<service>.db`` (SQLite), ``logs/<service>.log``, ``jwt-secret``.
State survives a restart; ``make clean`` wipes it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from common.infra.kafka_local import LocalKafkaBroker
from common.topics import ensure_topics

SERVICES = ("leads", "compliance", "dialer", "agent", "reporting")


@dataclass(frozen=True)
class StackConfig:
    run_dir: Path
    base_port: int = 8101
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    partitions: int = 3
    ready_timeout_s: float = 90.0


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 25) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def jwt_secret(run_dir: Path) -> str:
    """The embedded default's signing key: ``KADEN_JWT_SECRET`` or a generated file."""
    if os.environ.get("KADEN_JWT_SECRET"):
        return os.environ["KADEN_JWT_SECRET"]
    path = run_dir / "jwt-secret"
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _say(message: str) -> None:
    print(f"[kaden] {message}", flush=True)


class Stack:
    """Starts and stops the broker and the services."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.broker: LocalKafkaBroker | None = None
        self.services: list[ServiceProcess] = []

    def start(self) -> None:
        cfg = self.config
        (cfg.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        _say(f"starting Kafka on 127.0.0.1:{cfg.kafka_port} (data in {cfg.run_dir / 'kafka'})")
        self.broker = LocalKafkaBroker(
            data_dir=cfg.run_dir / "kafka", port=cfg.kafka_port,
            controller_port=cfg.kafka_controller_port,
        ).start()
        created = asyncio.run(ensure_topics(self.broker.bootstrap_servers,
                                            partitions_override=cfg.partitions))
        _say(f"Kafka {self.broker.version} ready; topics created: {len(created)}")
        secret = jwt_secret(cfg.run_dir)
        for i, name in enumerate(SERVICES):
            self.services.append(self._spawn(name, cfg.base_port + i, secret))
        self._wait_ready()

    def _spawn(self, name: str, port: int, secret: str) -> ServiceProcess:
        assert self.broker is not None
        env = {
            **os.environ,
            "KADEN_DATABASE_URL": f"sqlite+aiosqlite:///{self.config.run_dir.resolve()}/{name}.db",
            "KADEN_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "KADEN_JWT_SECRET": secret,
            "KADEN_ROLE": "all",
        }
        log_path = self.config.run_dir / "logs" / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", f"{name}.main:create_app",
                 "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        return ServiceProcess(name, port, process, log_path)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.config.ready_timeout_s
        pending = {s.name: s for s in self.services}
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name, svc in list(pending.items()):
                    if svc.process.poll() is not None:
                        raise RuntimeError(f"{name} exited with code {svc.process.returncode}; "
                                           f"last log lines:\n{svc.log_tail()}")
                    try:
                        if client.get(f"{svc.url}/readyz").status_code == 200:
                            _say(f"{name:<11} ready at {svc.url}")
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    names = ", ".join(pending)
                    raise RuntimeError(f"not ready after {self.config.ready_timeout_s:.0f} s: "
                                       f"{names} (logs in {self.config.run_dir / 'logs'})")
                time.sleep(0.3)

    def failed(self) -> list[ServiceProcess]:
        return [s for s in self.services if s.process.poll() is not None]

    def stop(self) -> None:
        for svc in self.services:
            if svc.process.poll() is None:
                svc.process.send_signal(signal.SIGTERM)
        for svc in self.services:
            try:
                svc.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                svc.process.kill()
                svc.process.wait()
        self.services.clear()
        if self.broker is not None:
            self.broker.stop()
            self.broker = None


def run(config: StackConfig, argv_note: Sequence[str] = ()) -> int:
    """Run the embedded platform until Ctrl-C / SIGTERM. Returns the exit code."""
    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    stack = Stack(config)
    try:
        stack.start()
        _say("all services ready. Health: GET /healthz /readyz, metrics: GET /metrics")
        _say("issue a tenant token with: .venv/bin/kaden token --tenant demo --scope leads:write")
        _say("press Ctrl-C to stop")
        while not stop_requested:
            dead = stack.failed()
            if dead:
                for svc in dead:
                    _say(f"{svc.name} exited ({svc.process.returncode}); last log lines:\n"
                         f"{svc.log_tail()}")
                return 1
            time.sleep(0.5)
        return 0
    except RuntimeError as exc:
        _say(f"error: {exc}")
        return 1
    finally:
        _say("stopping services and Kafka ...")
        stack.stop()
        _say("stopped")
