"""Dialing rules: which agents each campaign may count on, the last-mile check, ring timeout.

Pure functions, no I/O. How many lines a campaign dials on its agents is the pacing
engine's decision (:mod:`dialer.domain.pacing`); :func:`allocate_agents` decides which
campaign a ready agent shared by several campaigns counts for.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from enum import StrEnum

# Regulators require letting a call ring at least 15 s (or four rings) before giving up.
MIN_RING_TIMEOUT_S = 15.0
TENANT_DNC_LIST = "tenant"
CAMPAIGN_DNC_PREFIX = "campaign:"


class ReturnReason(StrEnum):
    """Why a hopper entry goes back to leads without being dialed (LeadReturnedV1.reason)."""

    CLEARANCE_EXPIRED = "clearance_expired"
    DNC = "dnc"
    CAMPAIGN_STOPPED = "campaign_stopped"
    PREVIEW_SKIPPED = "preview_skipped"


class CallState(StrEnum):
    """Where a call is; every call reaches ``ended`` exactly once."""

    DIALING = "dialing"  # CallDialed emitted, no progress from the gateway yet
    RINGING = "ringing"
    WAITING = "waiting_for_agent"  # answered by a person, no agent yet
    CONNECTED = "connected"
    ENDED = "ended"


IN_FLIGHT_STATES = (CallState.DIALING, CallState.RINGING, CallState.WAITING)
LIVE_STATES = (*IN_FLIGHT_STATES, CallState.CONNECTED)


def allocate_agents(
    agent_campaigns: Mapping[str, Collection[str]],
    in_flight: Mapping[str, int],
    wanted: Mapping[str, int],
    order: Sequence[str],
) -> dict[str, int]:
    """Ready agents each campaign of ``order`` may count on, when agents serve several.

    ``agent_campaigns``: each ready, unreserved agent and the campaigns it serves;
    ``in_flight``: calls ringing or waiting per campaign (a paused campaign's calls still
    need agents); ``wanted``: new calls each campaign could place (its hopper);
    ``order``: the dialing campaigns, highest priority first.

    Calls are matched to distinct agents of their campaign (a maximum bipartite matching
    grown by augmenting paths): first every call in flight (placed calls need their
    agents, whatever the priority: uncovering one risks an abandon), then campaign by
    campaign in ``order`` up to ``wanted`` new calls, each only if it gets an agent of its
    own without uncovering an earlier call. So an agent shared by two campaigns counts for
    one of them, and new calls go to the higher priority first.
    Returns, per campaign of ``order``, its matched calls: the idle agents its pacing
    decision may plan with (progressive dials ``result - in flight``).
    """
    agents_of: dict[str, list[str]] = defaultdict(list)
    # Specialists first: keeps agents shared by many campaigns free for the others.
    for agent in sorted(agent_campaigns, key=lambda a: (len(agent_campaigns[a]), a)):
        for campaign in agent_campaigns[agent]:
            agents_of[campaign].append(agent)
    matching = _Matching(agents_of)
    rank = {campaign: i for i, campaign in enumerate(order)}
    covered = {campaign: 0 for campaign in order}
    for campaign in sorted(in_flight, key=lambda c: (rank.get(c, len(rank)), c)):
        added = matching.add_up_to(campaign, in_flight[campaign])
        if campaign in covered:
            covered[campaign] = added
    for campaign in order:
        covered[campaign] += matching.add_up_to(campaign, wanted.get(campaign, 0))
    return covered


class _Matching:
    """Calls matched to distinct agents of their campaign, grown by augmenting paths."""

    def __init__(self, agents_of: Mapping[str, list[str]]) -> None:
        self._agents_of = agents_of
        self._campaign_of: list[str] = []  # call number -> campaign
        self._agent_of: dict[int, str] = {}  # call number -> agent
        self._call_of: dict[str, int] = {}  # agent -> call number

    def add_up_to(self, campaign: str, count: int) -> int:
        """Add up to ``count`` calls of ``campaign``; how many got an agent. Stops at the
        first that does not (the next ones would not either: the matching is unchanged)."""
        for added in range(count):
            if not self.add(campaign):
                return added
        return count

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
