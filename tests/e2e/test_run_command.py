"""The README's run command, as a user runs it: broker and every service come up with
health, readiness and metrics; Ctrl-C stops everything and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from common.infra.kafka_local import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
SERVICES = ["leads", "compliance", "dialer", "agent", "reporting"]


def test_run_command_brings_up_and_stops_the_platform(tmp_path) -> None:
    # the run command uses kafka_port + 1 for the controller and base_port + i per service
    base_port, kafka_port = free_port(count=len(SERVICES)), free_port(count=2)
    env = {**os.environ, "KADEN_RUN_DIR": str(tmp_path / "run")}
    env.pop("KADEN_JWT_SECRET", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator.devstack", "--no-demo", "--base-port", str(base_port),
         "--kafka-port", str(kafka_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 150
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "press Ctrl-C" in line:
                break
        output = "".join(lines)
        assert "press Ctrl-C" in output, output
        with httpx.Client(timeout=5) as client:
            for i, name in enumerate(SERVICES):
                url = f"http://127.0.0.1:{base_port + i}"
                assert client.get(f"{url}/healthz").json()["service"] == name
                ready = client.get(f"{url}/readyz")
                assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
                metrics = client.get(f"{url}/metrics")
                assert metrics.headers["content-type"].startswith("text/plain")
                assert "kaden_http_requests_total" in metrics.text
        token = subprocess.run([sys.executable, "-m", "common.cli", "token", "--tenant", "demo"],
                               env=env, capture_output=True, text=True, check=True).stdout.strip()
        assert token.count(".") == 2
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert "[kaden] stopped" in rest
    leftover = subprocess.run(["pgrep", "-f", f"--port {base_port}|{tmp_path}"],
                              capture_output=True, text=True).stdout.strip()
    assert leftover == "", f"processes left behind: {leftover}"
