"""One simulated tenant: a list with leads (some on DNC, some invalid), a campaign, agents."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator.agents import AgentBehaviour, SimulatedAgent
from simulator.leadgen import LeadFile, make_lead_file


@dataclass(frozen=True)
class Endpoints:
    leads: str
    compliance: str
    dialer: str
    agent: str
    reporting: str

    @classmethod
    def local(cls, base_port: int = 8101, host: str = "127.0.0.1") -> Endpoints:
        urls = [f"http://{host}:{base_port + i}" for i in range(5)]
        return cls(*urls)


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


class ApiError(RuntimeError):
    pass


def _check(r: httpx.Response, what: str) -> dict[str, Any]:
    if r.status_code >= 400:
        raise ApiError(f"{what}: HTTP {r.status_code}: {r.text}")
    body: dict[str, Any] = r.json()
    return body


class TenantSimulation:
    """Drives the platform's public APIs as a BPO client and its agents would."""

    def __init__(self, endpoints: Endpoints, token: str, config: SimulationConfig) -> None:
        self.endpoints = endpoints
        self.config = config
        self.headers = {"Authorization": f"Bearer {token}"}
        self.lead_file: LeadFile = make_lead_file(config.leads, config.dnc, config.invalid, config.seed)
        self.list_id: str | None = None
        self.campaign_id: str | None = None
        self.import_job: dict[str, Any] = {}
        self.agents: list[SimulatedAgent] = []

    def client(self, base: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, headers=self.headers, timeout=30)

    async def prepare(self) -> None:
        """DNC entries, a list, the lead import (waits for the job), the campaign (started)."""
        async with self.client(self.endpoints.compliance) as c:
            for number in self.lead_file.dnc_numbers:
                _check(await c.post("/v1/dnc", json={"phone": number}), "add DNC entry")
        async with self.client(self.endpoints.leads) as c:
            lst = _check(await c.post("/v1/lists", json={"name": f"{self.config.campaign_name} list"}),
                         "create list")
            self.list_id = lst["list_id"]
            job = _check(await c.post(
                f"/v1/lists/{self.list_id}/imports",
                files={"file": ("leads.csv", self.lead_file.csv_text.encode(), "text/csv")},
                data={"default_country": "US"}), "upload leads")
            for _ in range(600):
                self.import_job = _check(await c.get(f"/v1/imports/{job['job_id']}"), "import status")
                if self.import_job["status"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.2)
            if self.import_job.get("status") != "done":
                raise ApiError(f"import did not finish: {self.import_job}")
        async with self.client(self.endpoints.dialer) as c:
            campaign = _check(await c.post("/v1/campaigns", json={
                "name": self.config.campaign_name, "list_ids": [self.list_id],
                "dial_mode": "progressive", "max_attempts": self.config.max_attempts,
                "retry_delay_s": self.config.retry_delay_s}), "create campaign")
            self.campaign_id = campaign["campaign_id"]
            _check(await c.post(f"/v1/campaigns/{self.campaign_id}/start"), "start campaign")

    async def run_agents(self, stop: asyncio.Event) -> None:
        """Log the agents in and let them take calls until ``stop`` is set."""
        assert self.campaign_id is not None
        rng = random.Random(self.config.seed)
        async with self.client(self.endpoints.agent) as c:
            self.agents = [
                SimulatedAgent(f"agent-{i + 1}", c, self.headers, self.campaign_id,
                               self.config.behaviour, random.Random(rng.random()))
                for i in range(self.config.agents)
            ]
            await asyncio.gather(*(a.run(stop) for a in self.agents))

    async def kpis(self) -> dict[str, Any]:
        async with self.client(self.endpoints.reporting) as c:
            r = await c.get(f"/v1/campaigns/{self.campaign_id}/kpis")
            return {} if r.status_code == 404 else _check(r, "campaign KPIs")

    async def campaign_status(self) -> dict[str, Any]:
        async with self.client(self.endpoints.dialer) as c:
            return _check(await c.get(f"/v1/campaigns/{self.campaign_id}/status"), "campaign status")
