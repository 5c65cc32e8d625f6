"""The embedded platform behind ``make run``: a local Kafka broker, every service on
SQLite, health-checked, and a demo tenant running a simulated campaign whose KPI board is
printed until Ctrl-C stops everything cleanly.

Everything lives under the run directory (``.run/`` by default, ``KADEN_RUN_DIR``):
``kafka/`` (broker data), ``<service>.db`` (SQLite), ``logs/<service>.log``, ``jwt-secret``.
State survives a restart; ``make clean`` wipes it.

The demo dials New York numbers. So that it shows calls at any hour, the platform's clock
is shifted to the next weekday 14:00 in New York when real New York time is outside
10:00–18:00 on a weekday (``KADEN_CLOCK_OFFSET_S``; compliance still enforces the real
rules, at that instant). ``--no-demo`` runs the platform alone, on real time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from common.auth import issue_token
from common.cli import DEFAULT_SCOPES, jwt_secret
from common.infra.kafka_local import LocalKafkaBroker
from common.topics import ensure_topics
from simulator.agents import AgentBehaviour
from simulator.cli import run_simulation
from simulator.registry import import_registry, operator_headers, registry_file
from simulator.tenant import SimulationConfig, TenantSimulation, local_clients

SERVICES = ("leads", "compliance", "dialer", "agent", "reporting")
DEMO_SETTINGS = {
    "dialer": {"KADEN_TIME_SCALE": "0.1"},
}
# The demo imports a synthetic US-DNC registry copy (as an operator would import the FTC
# download): this many filler numbers, plus a few of the demo's own leads, which compliance
# then blocks as ``dnc.national``.
DEMO_REGISTRY_FILLER = 100_000
DEMO_REGISTRY_LEADS = 4
NEW_YORK = ZoneInfo("America/New_York")


def demo_clock_offset(now: datetime) -> float:
    """Seconds to add to real time so the platform's clock reads a New York business hour."""
    local = now.astimezone(NEW_YORK)
    if local.weekday() < 5 and 10 <= local.hour < 18:
        return 0.0
    day = local.date() + timedelta(days=1 if local.hour >= 10 else 0)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    target = datetime(day.year, day.month, day.day, 14, tzinfo=NEW_YORK)
    return (target - now).total_seconds()


@dataclass(frozen=True)
class StackConfig:
    run_dir: Path
    base_port: int = 8101
    kafka_port: int = 9092
    partitions: int = 3
    ready_timeout_s: float = 120.0
    clock_offset_s: float = 0.0


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
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def say(message: str) -> None:
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
        say(f"starting Kafka on 127.0.0.1:{cfg.kafka_port} (data in {cfg.run_dir / 'kafka'})")
        self.broker = LocalKafkaBroker(data_dir=cfg.run_dir / "kafka", port=cfg.kafka_port,
                                       controller_port=cfg.kafka_port + 1).start()
        created = asyncio.run(ensure_topics(self.broker.bootstrap_servers,
                                            partitions_override=cfg.partitions))
        say(f"Kafka {self.broker.version} ready; topics created: {len(created)}")
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
            "KADEN_CLOCK_OFFSET_S": str(self.config.clock_offset_s),
            **DEMO_SETTINGS.get(name, {}),
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
                            say(f"{name:<11} ready at {svc.url}")
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {self.config.ready_timeout_s:.0f} s: "
                                       f"{', '.join(pending)} (logs in {self.config.run_dir / 'logs'})")
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


async def _import_demo_registry(stack: Stack, compliance: httpx.AsyncClient,
                                sim: TenantSimulation) -> None:
    """A fresh synthetic US-DNC copy, downloaded "yesterday", listing a few demo leads."""
    listed = [n for n in sim.lead_file.valid_numbers
              if n not in sim.lead_file.dnc_numbers][:DEMO_REGISTRY_LEADS]
    job = await import_registry(
        compliance, operator_headers(jwt_secret(stack.config.run_dir)), name="US-DNC",
        content=registry_file(listed, filler=DEMO_REGISTRY_FILLER),
        version=f"demo-{datetime.now(UTC):%Y%m%d}",
        downloaded_at=datetime.now(UTC) - timedelta(days=1))
    say(f"imported a synthetic US-DNC registry copy: {job['numbers']:,} numbers "
        f"({len(listed)} of them demo leads)")


async def _serve(stack: Stack, demo: SimulationConfig | None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sim_task: asyncio.Task[None] | None = None
    clients = local_clients(stack.config.base_port)
    if demo is not None:
        token = issue_token(jwt_secret(stack.config.run_dir), tenant_id=demo.tenant,
                            subject="simulator", scopes=DEFAULT_SCOPES)
        sim = TenantSimulation(clients, token, demo)
        await _import_demo_registry(stack, clients["compliance"], sim)
        sim_task = asyncio.create_task(run_simulation(sim, stop))
    try:
        while not stop.is_set():
            dead = stack.failed()
            if dead:
                for svc in dead:
                    say(f"{svc.name} exited ({svc.process.returncode}); last log lines:\n{svc.log_tail()}")
                return 1
            if sim_task is not None and sim_task.done():
                sim_task.result()  # a failed simulation stops the run with its error
                sim_task = None
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                pass
        return 0
    finally:
        stop.set()
        if sim_task is not None:
            await asyncio.gather(sim_task, return_exceptions=True)
        for client in clients.values():
            await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0])
    parser.add_argument("--base-port", type=int, default=8101, help="first service port")
    parser.add_argument("--kafka-port", type=int, default=9092, help="broker port (+1: controller)")
    parser.add_argument("--no-demo", action="store_true", help="do not run the demo campaign")
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--time-scale", type=float, default=0.02,
                        help="agent talk/wrap time compression for the demo (1.0 = real time)")
    args = parser.parse_args(argv)
    demo = None if args.no_demo else SimulationConfig(
        leads=args.leads, agents=args.agents, behaviour=AgentBehaviour(time_scale=args.time_scale),
        campaign_name=f"Demo {datetime.now(UTC):%H%M%S}")
    offset = 0.0 if demo is None else demo_clock_offset(datetime.now(UTC))
    config = StackConfig(run_dir=Path(os.environ.get("KADEN_RUN_DIR", ".run")),
                         base_port=args.base_port, kafka_port=args.kafka_port, clock_offset_s=offset)
    if offset:
        say(f"demo clock: the platform runs at {datetime.now(UTC) + timedelta(seconds=offset):%a %H:%M} "
            "UTC (a weekday afternoon in New York, so the demo's New York leads are callable)")
    stack = Stack(config)
    try:
        stack.start()
        say("all services ready: GET /healthz /readyz /metrics, OpenAPI at /docs")
        say("a token for the demo tenant: .venv/bin/kaden token --tenant demo")
        say("press Ctrl-C to stop")
        return asyncio.run(_serve(stack, demo))
    except RuntimeError as exc:
        say(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        say("stopping services and Kafka ...")
        stack.stop()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
