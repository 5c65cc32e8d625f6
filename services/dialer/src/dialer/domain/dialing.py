"""Dialing rules: how many lines, which agents cover them, the last-mile check, ring timeout.

Pure functions, no I/O. :func:`lines_to_dial` is the seam where the pacing engine
(:mod:`dialer.domain.pacing`) plugs in for power and predictive modes; this slice dials
progressive only.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from enum import StrEnum

# Regulators require letting a call ring at least 15 s (or four rings) before giving up.
MIN_RING_TIMEOUT_S = 15.0
TENANT_DNC_LIST = "tenant"
CAMPAIGN_DNC_PREFIX = "campaign:"

Pacing = Callable[[int, int], int]


class ReturnReason(StrEnum):
    """Why a hopper entry goes back to leads without being dialed (LeadReturnedV1.reason)."""

    CLEARANCE_EXPIRED = "clearance_expired"
    DNC = "dnc"
    CAMPAIGN_STOPPED = "campaign_stopped"


class CallState(StrEnum):
    """Where a call is; every call reaches ``ended`` exactly once."""

    DIALING = "dialing"  # CallDialed emitted, no progress from the gateway yet
    RINGING = "ringing"
    WAITING = "waiting_for_agent"  # answered by a person, no agent yet
    CONNECTED = "connected"
    ENDED = "ended"


IN_FLIGHT_STATES = (CallState.DIALING, CallState.RINGING, CallState.WAITING)
LIVE_STATES = (*IN_FLIGHT_STATES, CallState.CONNECTED)


def lines_to_dial(ready_agents: int, calls_in_flight: int) -> int:
    """Progressive pacing: one line per ready agent not covered by a call in flight.

    ``calls_in_flight`` counts calls ringing and live answers waiting for an agent.
    """
    return max(0, ready_agents - calls_in_flight)


def allocate_lines(
    agent_campaigns: Mapping[str, Collection[str]],
    in_flight: Mapping[str, int],
    running: Collection[str],
    pacing: Pacing = lines_to_dial,
) -> dict[str, int]:
    """Lines to dial per running campaign when agents may serve several campaigns.

    ``agent_campaigns``: each ready, unreserved agent and the campaigns it serves;
    ``in_flight``: calls ringing or waiting per campaign (running or not: a paused
    campaign's calls still need agents). Calls are matched to distinct agents of their
    campaign (a maximum bipartite matching): first the calls in flight, then, campaign by
    campaign, up to ``pacing(ready agents, calls in flight)`` new calls, each only if it
    can get an agent of its own without uncovering another call. So an agent shared by
    two campaigns covers one call, never two.
    """
    agents_of: dict[str, list[str]] = defaultdict(list)
    # Specialists first: keeps agents shared by many campaigns free for the others.
    for agent in sorted(agent_campaigns, key=lambda a: (len(agent_campaigns[a]), a)):
        for campaign in agent_campaigns[agent]:
            agents_of[campaign].append(agent)
    matching = _Matching(agents_of)
    for campaign, count in sorted(in_flight.items()):
        for _ in range(count):
            matching.add(campaign)
    lines: dict[str, int] = {}
    for campaign in sorted(running):
        wanted = pacing(len(agents_of[campaign]), in_flight.get(campaign, 0))
        placed = 0
        while placed < wanted and matching.add(campaign):
            placed += 1
        lines[campaign] = placed
    return lines


class _Matching:
    """Calls matched to distinct agents of their campaign, grown by augmenting paths."""

    def __init__(self, agents_of: Mapping[str, list[str]]) -> None:
        self._agents_of = agents_of
        self._campaign_of: list[str] = []  # call number -> campaign
        self._agent_of: dict[int, str] = {}  # call number -> agent
        self._call_of: dict[str, int] = {}  # agent -> call number

    def add(self, campaign: str) -> bool:
        """Add one call of ``campaign``; True if the matching grew to cover it."""
        call = len(self._campaign_of)
        self._campaign_of.append(campaign)
        reached_from: dict[str, int] = {}  # agent -> the call whose search reached it
        queue = deque([call])
        while queue:
            current = queue.popleft()
            for agent in self._agents_of.get(self._campaign_of[current], ()):
                if agent in reached_from:
                    continue
                reached_from[agent] = current
                if agent not in self._call_of:
                    self._flip(agent, reached_from)
                    return True
                queue.append(self._call_of[agent])
        return False  # stays uncovered: it counts in flight but holds no agent

    def _flip(self, agent: str, reached_from: Mapping[str, int]) -> None:
        """Shift every call along the augmenting path ending at the free ``agent``."""
        while True:
            call = reached_from[agent]
            previous = self._agent_of.get(call)
            self._agent_of[call], self._call_of[agent] = agent, call
            if previous is None:
                return
            agent = previous


def dnc_list_applies(list_id: str, campaign_id: str) -> bool:
    """Whether a DNC entry on ``list_id`` forbids dialing for ``campaign_id``.

    ``tenant`` and registry lists apply to every campaign of the tenant; ``campaign:<id>``
    only to that campaign. Failing closed: an unknown list blocks.
    """
    if list_id.startswith(CAMPAIGN_DNC_PREFIX):
        return list_id == CAMPAIGN_DNC_PREFIX + campaign_id
    return True


def last_mile_verdict(*, valid_until: datetime, now: datetime, on_dnc: bool) -> ReturnReason | None:
    """The check just before dialing: None to dial, else why the lead goes back.

    A number put on DNC after it was cleared is never dialed; a clearance is valid strictly
    before ``valid_until`` (UTC).
    """
    if on_dnc:
        return ReturnReason.DNC
    if valid_until <= now:
        return ReturnReason.CLEARANCE_EXPIRED
    return None


def effective_ring_timeout(configured_s: float) -> float:
    """The ring timeout in seconds, never below the legal minimum of 15 s."""
    return max(MIN_RING_TIMEOUT_S, configured_s)
