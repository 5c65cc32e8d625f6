"""``kaden-sim``: play a tenant against a running platform and print its KPI board.

    kaden-sim --base-port 8101 --token $(kaden token --tenant demo) --leads 300 --agents 5
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TextIO

from simulator.agents import AgentBehaviour
from simulator.board import render
from simulator.tenant import SimulationConfig, TenantSimulation, local_clients


async def run_simulation(sim: TenantSimulation, stop: asyncio.Event, board_every_s: float = 5.0,
                         out: TextIO = sys.stdout) -> None:
    """Prepare the tenant, run the agents, print the KPI board until ``stop`` is set."""
    await sim.prepare()
    job = sim.import_job
    print(f"[sim] imported {job['accepted']} leads ({job['duplicate']} duplicate, "
          f"{job['invalid']} invalid: " + "; ".join(
              f"line {e.get('row', e.get('index'))}: {e['reason']}" for e in job["errors"][:5])
          + f"); {len(sim.lead_file.dnc_numbers)} numbers on the tenant DNC list", file=out, flush=True)
    print(f"[sim] campaign {sim.campaign_id} started with {sim.config.agents} agents", file=out, flush=True)
    agents = asyncio.create_task(sim.run_agents(stop))
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), board_every_s)
            except TimeoutError:
                pass
            status = await sim.campaign_status()
            print(render(await sim.kpis(), status, f"--- {sim.config.campaign_name} ---"),
                  file=out, flush=True)
    finally:
        stop.set()
        await agents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kaden-sim", description=__doc__.splitlines()[0])
    parser.add_argument("--token", required=True, help="tenant bearer token (kaden token)")
    parser.add_argument("--base-port", type=int, default=8101)
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--dnc", type=int, default=10)
    parser.add_argument("--invalid", type=int, default=5)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--time-scale", type=float, default=0.02,
                        help="agent talk/wrap time compression (1.0 = real time)")
    args = parser.parse_args(argv)
    config = SimulationConfig(leads=args.leads, dnc=args.dnc, invalid=args.invalid,
                              agents=args.agents, behaviour=AgentBehaviour(time_scale=args.time_scale))

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        clients = local_clients(args.base_port)
        try:
            await run_simulation(TenantSimulation(clients, args.token, config), stop)
        finally:
            for client in clients.values():
                await client.aclose()

    asyncio.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
