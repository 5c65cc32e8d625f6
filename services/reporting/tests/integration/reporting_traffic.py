"""Seeded synthetic traffic (calls and agent shifts) with the test's own recount of every total.

The recount is kept while generating, from what is generated, with plain arithmetic: it
shares no code with the service, so it is an independent expectation for the KPIs.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from reporting_kit import EventLog

Recount = dict[tuple[str, str], Counter[str]]


@dataclass
class Traffic:
    """The generated events and the recounts per (tenant, campaign) and (tenant, agent)."""

    tenants: tuple[str, ...]
    campaigns: tuple[str, ...]
    agents_per_campaign: int
    log: EventLog = field(default_factory=EventLog)
    by_campaign: Recount = field(default_factory=lambda: defaultdict(Counter))
    by_agent: Recount = field(default_factory=lambda: defaultdict(Counter))

    def agent_ids(self, campaign: str) -> list[str]:
        return [f"{campaign}-agent-{n}" for n in range(self.agents_per_campaign)]


def simulate(*, tenants: tuple[str, ...] = ("acme", "globex"),
             campaigns: tuple[str, ...] = ("camp-1", "camp-2"), agents_per_campaign: int = 3,
             calls_per_agent: int = 12, unhandled_per_campaign: int = 30,
             seed: int = 7) -> Traffic:
    """Every agent works one shift in one campaign; unhandled calls are spread over it."""
    rng = random.Random(seed)
    traffic = Traffic(tenants, campaigns, agents_per_campaign)
    for tenant in tenants:
        for campaign in campaigns:
            totals = traffic.by_campaign[(tenant, campaign)]
            for agent in traffic.agent_ids(campaign):
                _agent_shift(rng, traffic.log, tenant, campaign, agent, calls_per_agent,
                             (totals, traffic.by_agent[(tenant, agent)]))
            for k in range(unhandled_per_campaign):
                _unhandled_call(rng, traffic.log, tenant, campaign, f"{campaign}-u{k}", totals)
    return traffic


def _agent_shift(rng: random.Random, log: EventLog, tenant: str, campaign: str, agent: str,
                 calls: int, counters: tuple[Counter[str], ...]) -> None:
    def count(**totals: int) -> None:
        for counter in counters:
            counter.update(**totals)

    t = rng.randint(0, 60)
    log.states(tenant, agent, [campaign], (t, "ready"))
    for k in range(calls):
        wait, talk, acw = rng.randint(1, 30), rng.randint(20, 300), rng.randint(5, 60)
        call_id, connect = f"{agent}-c{k}", t + wait
        log.call(tenant, campaign, call_id, dialed=connect - 12, answered=(connect - 1, "human"),
                 connected=(connect, agent), ended=connect + talk, outcome="completed",
                 talk_ms=talk * 1000)
        log.states(tenant, agent, [campaign], (connect, "on_call", call_id),
                   (connect + talk, "wrap_up", call_id))
        category = rng.choice(["success", "contact", "callback", "other"])
        log.disposition(tenant, agent, campaign, call_id, at_s=connect + talk + acw,
                        disposition=category, category=category)
        t = connect + talk + acw
        log.states(tenant, agent, [campaign], (t, "ready"))
        count(dials=1, connects=1, contacts=1, handled=1, conversions=int(category == "success"),
              talk_ms=talk * 1000, acw_ms=acw * 1000, ready_ms=wait * 1000,
              on_call_ms=talk * 1000, wrap_up_ms=acw * 1000)
        if rng.random() < 0.25:
            pause = rng.randint(10, 100)
            log.states(tenant, agent, [campaign], (t, "paused", "break"), (t + pause, "ready"))
            t += pause
            count(paused_ms=pause * 1000)
    last_wait = rng.randint(1, 30)
    log.states(tenant, agent, [campaign], (t + last_wait, "logged_out"))
    count(ready_ms=last_wait * 1000)


def _unhandled_call(rng: random.Random, log: EventLog, tenant: str, campaign: str,
                    call_id: str, totals: Counter[str]) -> None:
    d = rng.randint(0, 3000)
    kind = rng.choice(["machine", "no_answer", "busy", "abandoned"])
    if kind == "machine":
        log.call(tenant, campaign, call_id, dialed=d, answered=(d + 9, "machine"), ended=d + 20,
                 outcome="machine")
    elif kind == "abandoned":
        log.call(tenant, campaign, call_id, dialed=d, answered=(d + 5, "human"), abandoned=d + 7,
                 ended=d + 8, outcome="abandoned")
    else:
        log.call(tenant, campaign, call_id, dialed=d, ended=d + 25, outcome=kind)
    totals.update(dials=1, connects=int(kind in ("machine", "abandoned")),
                  contacts=int(kind == "abandoned"), abandoned=int(kind == "abandoned"))


def _rate(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def expected_handling(c: Counter[str]) -> dict[str, Any]:
    """Handled calls, conversions, ATT/ACW/AHT and agent-time KPIs from a recount."""
    att = _rate(c["talk_ms"] / 1000, c["handled"])
    acw = _rate(c["acw_ms"] / 1000, c["handled"])
    working = c["on_call_ms"] + c["wrap_up_ms"]
    return {
        "handled_calls": c["handled"], "conversions": c["conversions"], "att_s": att,
        "acw_s": acw, "aht_s": None if att is None or acw is None else att + acw,
        "occupancy": _rate(working, working + c["ready_ms"]),
        "utilisation": _rate(working + c["ready_ms"], working + c["ready_ms"] + c["paused_ms"]),
    }


def expected_campaign(c: Counter[str]) -> dict[str, Any]:
    """Every campaign KPI from a recount."""
    return {
        "dials": c["dials"], "connects": c["connects"], "contacts": c["contacts"],
        "contact_rate": _rate(c["contacts"], c["dials"]), "right_party_contacts": None,
        "conversion_rate": _rate(c["conversions"], c["dials"]),
        "conversion_per_contact": _rate(c["conversions"], c["contacts"]),
        "abandoned": c["abandoned"], "abandon_rate": _rate(c["abandoned"], c["contacts"]),
        **expected_handling(c),
    }
