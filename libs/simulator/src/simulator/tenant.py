"""One simulated tenant: a list with leads (some on DNC, some invalid), a campaign, agents."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.agents import AgentBehaviour, SimulatedAgent
from simulator.leadgen import LeadFile, make_lead_file

SERVICES = ("leads", "compliance", "dialer", "agent", "reporting")


def local_clients(base_port: int = 8101, host: str = "127.0.0.1") -> dict[str, httpx.AsyncClient]:
    """HTTP clients for services listening on consecutive local ports (``make run``)."""
    return {name: httpx.AsyncClient(base_url=f"http://{host}:{base_port + i}", timeout=30)
            for i, name in enumerate(SERVICES)}


@dataclass
class SimulationConfig:
    tenant: str = "demo"
    leads: int = 300
    dnc: int = 10
    invalid: int = 5
    agents: int = 5
    seed: int = 7
    campaign_name: str = "Demo renewals"
    max_attempts: int = 2
    retry_delay_s: int = 30
    behaviour: AgentBehaviour = field(default_factory=AgentBehaviour)
    # presented on every call; the dialer refuses to start a campaign without one
    caller_id: str = "+12125550100"
    # played to a live answer no agent takes within 2 s; required to start, every mode
    abandon_message: str = ("This is a courtesy call from Demo Renewals. We will call back; "
                            "to stop our calls, call 212 555 0100.")
    dial_mode: str = "progressive"
    # other campaign settings of the dialer API (e.g. lines_per_agent)
    campaign_settings: dict[str, Any] = field(default_factory=dict)


class ApiError(RuntimeError):
    pass


def _check(r: httpx.Response, what: str) -> dict[str, Any]:
    if r.status_code >= 400:
        raise ApiError(f"{what}: HTTP {r.status_code}: {r.text}")
    body: dict[str, Any] = r.json()
    return body


class TenantSimulation:
    """Drives the platform's public APIs as a BPO client and its agents would.

    ``clients`` maps each service name to an HTTP client bound to it (real ports, or ASGI
    transports for in-process tests); the caller owns and closes them.
    """

    def __init__(self, clients: dict[str, httpx.AsyncClient], token: str,
                 config: SimulationConfig) -> None:
        self.clients = clients
        self.config = config
        self.headers = {"Authorization": f"Bearer {token}"}
        self.lead_file: LeadFile = make_lead_file(config.leads, config.dnc, config.invalid, config.seed)
        self.list_id: str | None = None
        self.campaign_id: str | None = None
        self.import_job: dict[str, Any] = {}
        self.agents: list[SimulatedAgent] = []

    async def prepare(self) -> None:
        """DNC entries, a list, the lead import (waits for the job), the campaign (started)."""
        h = self.headers
        compliance, leads, dialer = (self.clients[n] for n in ("compliance", "leads", "dialer"))
        for number in self.lead_file.dnc_numbers:
            _check(await compliance.post("/v1/dnc", json={"phone": number}, headers=h),
                   "add DNC entry")
        lst = _check(await leads.post("/v1/lists", json={"name": f"{self.config.campaign_name} list"},
                                      headers=h), "create list")
        self.list_id = lst["list_id"]
        job = _check(await leads.post(
            f"/v1/lists/{self.list_id}/imports",
            files={"file": ("leads.csv", self.lead_file.csv_text.encode(), "text/csv")},
            data={"default_country": "US"}, headers=h), "upload leads")
        for _ in range(600):
            self.import_job = _check(await leads.get(f"/v1/imports/{job['job_id']}", headers=h),
                                     "import status")
            if self.import_job["status"] in ("done", "failed"):
                break
            await asyncio.sleep(0.2)
        if self.import_job.get("status") != "done":
            raise ApiError(f"import did not finish: {self.import_job}")
        campaign = _check(await dialer.post("/v1/campaigns", headers=h, json={
            "name": self.config.campaign_name, "list_ids": [self.list_id],
            "dial_mode": self.config.dial_mode, "max_attempts": self.config.max_attempts,
            "retry_delay_s": self.config.retry_delay_s, "caller_id": self.config.caller_id,
            "abandon_message": self.config.abandon_message, **self.config.campaign_settings}),
            "create campaign")
        self.campaign_id = campaign["campaign_id"]
        _check(await dialer.post(f"/v1/campaigns/{self.campaign_id}/start", headers=h),
               "start campaign")

    async def run_agents(self, stop: asyncio.Event) -> None:
        """Log the agents in and let them take calls until ``stop`` is set."""
        assert self.campaign_id is not None
        rng = random.Random(self.config.seed)
        self.agents = [
            SimulatedAgent(f"agent-{i + 1}", self.clients["agent"], self.headers, self.campaign_id,
                           self.config.behaviour, random.Random(rng.random()))
            for i in range(self.config.agents)
        ]
        await asyncio.gather(*(a.run(stop) for a in self.agents))

    async def kpis(self) -> dict[str, Any]:
        r = await self.clients["reporting"].get(f"/v1/campaigns/{self.campaign_id}/kpis",
                                                headers=self.headers)
        return {} if r.status_code == 404 else _check(r, "campaign KPIs")

    async def campaign_status(self) -> dict[str, Any]:
        return _check(await self.clients["dialer"].get(
            f"/v1/campaigns/{self.campaign_id}/status", headers=self.headers), "campaign status")
