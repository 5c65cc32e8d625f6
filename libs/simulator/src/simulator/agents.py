"""Simulated agents: log in, take calls through the agent API, talk, wrap up, disposition."""

from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

log = logging.getLogger(__name__)

# Disposition mix of calls a live person answered (share, disposition).
DISPOSITIONS: tuple[tuple[float, str], ...] = (
    (0.15, "sale"), (0.45, "not_interested"), (0.10, "callback"), (0.05, "do_not_call"),
    (0.10, "wrong_party"), (0.15, "other"),
)


def lognormal(rng: random.Random, mean: float, sd: float) -> float:
    """A lognormal sample with the given mean and standard deviation (same units)."""
    sigma2 = math.log(1 + (sd / mean) ** 2)
    return rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))


@dataclass
class AgentBehaviour:
    time_scale: float = 0.02          # 1.0 = real time; 0.02 = a 150 s talk lasts 3 s
    talk_mean_s: float = 150.0
    talk_sd_s: float = 150.0
    wrap_mean_s: float = 20.0
    wrap_sd_s: float = 10.0
    poll_s: float = 0.1


@dataclass
class AgentStats:
    calls: int = 0
    dispositions: dict[str, int] = field(default_factory=dict)


class SimulatedAgent:
    def __init__(self, agent_id: str, client: httpx.AsyncClient, headers: dict[str, str],
                 campaign_id: str, behaviour: AgentBehaviour, rng: random.Random) -> None:
        self.agent_id = agent_id
        self._client = client
        self._headers = headers
        self._campaign_id = campaign_id
        self._b = behaviour
        self._rng = rng
        self.stats = AgentStats()

    async def _post(self, action: str, body: dict[str, object] | None = None) -> httpx.Response:
        r = await self._client.post(f"/v1/agents/{self.agent_id}/{action}", json=body or {},
                                    headers=self._headers)
        if r.status_code >= 400:
            raise RuntimeError(f"{self.agent_id} {action}: {r.status_code} {r.text}")
        return r

    def _pick_disposition(self) -> str:
        x, acc = self._rng.random(), 0.0
        for share, name in DISPOSITIONS:
            acc += share
            if x < acc:
                return name
        return DISPOSITIONS[-1][1]

    async def run(self, stop: asyncio.Event) -> None:
        await self._post("login", {"campaign_ids": [self._campaign_id], "ready": True})
        try:
            while not stop.is_set():
                r = await self._client.get(f"/v1/agents/{self.agent_id}", headers=self._headers)
                r.raise_for_status()
                state = r.json()
                if state["state"] != "on_call" or not state.get("current_call"):
                    await asyncio.sleep(self._b.poll_s)
                    continue
                call_id = state["current_call"]["call_id"]
                b = self._b
                await asyncio.sleep(lognormal(self._rng, b.talk_mean_s, b.talk_sd_s) * b.time_scale)
                await self._post("hangup")
                await asyncio.sleep(lognormal(self._rng, b.wrap_mean_s, b.wrap_sd_s) * b.time_scale)
                disposition = self._pick_disposition()
                body: dict[str, object] = {"call_id": call_id, "disposition": disposition}
                if disposition == "callback":
                    # an hour after the call started, on the platform's clock
                    since = datetime.fromisoformat(state["since"])
                    body["callback_at"] = (since + timedelta(hours=1)).isoformat()
                await self._post("disposition", body)
                self.stats.calls += 1
                self.stats.dispositions[disposition] = self.stats.dispositions.get(disposition, 0) + 1
        finally:
            try:
                # Wait for the current state to allow logout (a call may still be wrapping up).
                await self._client.post(f"/v1/agents/{self.agent_id}/logout", headers=self._headers)
            except httpx.HTTPError:
                pass
