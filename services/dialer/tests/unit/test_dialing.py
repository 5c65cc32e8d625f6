"""Agents shared across campaigns by priority, last-mile check, ring timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from dialer.domain.dialing import (
    MIN_RING_TIMEOUT_S,
    ReturnReason,
    allocate_agents,
    dnc_list_applies,
    effective_ring_timeout,
    last_mile_verdict,
)

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def allocate(agents: dict[str, set[str]], in_flight: dict[str, int],
             wanted: dict[str, int], order: list[str]) -> dict[str, int]:
    return allocate_agents(agents, in_flight, wanted, order)


def test_agent_shared_by_two_campaigns_counts_for_one() -> None:
    idle = allocate({"a1": {"X", "Y"}}, {}, {"X": 5, "Y": 5}, ["X", "Y"])
    assert idle == {"X": 1, "Y": 0}


def test_higher_priority_campaign_gets_shared_agents_first() -> None:
    agents = {"a1": {"X", "Y"}, "a2": {"X", "Y"}, "y-only": {"Y"}}
    assert allocate(agents, {}, {"X": 5, "Y": 5}, ["Y", "X"]) == {"Y": 3, "X": 0}
    assert allocate(agents, {}, {"X": 5, "Y": 5}, ["X", "Y"]) == {"X": 2, "Y": 1}


def test_a_campaign_without_leads_leaves_its_shared_agents_to_others() -> None:
    agents = {"a1": {"X", "Y"}, "a2": {"X", "Y"}}
    assert allocate(agents, {}, {"X": 0, "Y": 5}, ["X", "Y"]) == {"X": 0, "Y": 2}
    assert allocate(agents, {}, {"X": 1, "Y": 5}, ["X", "Y"]) == {"X": 1, "Y": 1}


def test_calls_in_flight_are_matched_to_leave_agents_free() -> None:
    # X (not dialing now) keeps its call covered by its specialist; the shared one goes to Y.
    assert allocate({"x-only": {"X"}, "both": {"X", "Y"}}, {"X": 1}, {"Y": 3}, ["Y"]) == {"Y": 1}


def test_a_call_in_flight_moves_to_another_agent_to_free_one() -> None:
    # Greedy would give X's call to "xy" (first by name) and leave Y's call uncovered.
    idle = allocate({"xy": {"X", "Y"}, "xz": {"X", "Z"}}, {"X": 1, "Y": 1}, {"Z": 1}, ["Z"])
    assert idle == {"Z": 0}


def test_calls_of_a_paused_campaign_still_hold_their_agents() -> None:
    assert allocate({"a1": {"P", "R"}, "a2": {"P", "R"}}, {"P": 2}, {"R": 4}, ["R"]) == {"R": 0}


def test_overdialed_calls_count_every_agent_of_the_campaign_once() -> None:
    # predictive: 7 calls in flight on 3 agents; the campaign plans with its 3 agents
    assert allocate({"a": {"X"}, "b": {"X"}, "c": {"X"}}, {"X": 7}, {"X": 10}, ["X"]) == {"X": 3}


def _max_matching(agents: dict[str, set[str]], calls: list[str]) -> int:
    """Reference: most calls (by campaign) that distinct agents of their campaign can take."""
    owner: dict[str, int] = {}

    def augment(call: int, seen: set[str]) -> bool:
        for agent, campaigns in agents.items():
            if calls[call] in campaigns and agent not in seen:
                seen.add(agent)
                if agent not in owner or augment(owner[agent], seen):
                    owner[agent] = call
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(calls)))


campaign_ids = st.sampled_from(["A", "B", "C"])


@given(agents=st.dictionaries(st.text(min_size=1, max_size=3),
                              st.sets(campaign_ids, min_size=1), max_size=10),
       in_flight=st.dictionaries(campaign_ids, st.integers(0, 5)),
       wanted=st.dictionaries(campaign_ids, st.integers(0, 5)),
       order=st.permutations(["A", "B", "C"]))
def test_progressive_lines_never_leave_a_call_without_an_agent(
        agents: dict[str, set[str]], in_flight: dict[str, int], wanted: dict[str, int],
        order: list[str]) -> None:
    idle = allocate(agents, in_flight, wanted, order)
    assert set(idle) == set(order)
    old = [c for c, n in in_flight.items() for _ in range(n)]
    # progressive dials idle - in flight per campaign (only what was matched beyond them)
    new = [c for c in order for _ in range(max(0, idle[c] - in_flight.get(c, 0)))]
    assert _max_matching(agents, old + new) == _max_matching(agents, old) + len(new)
    for campaign in order:
        own = sum(1 for cs in agents.values() if campaign in cs)
        assert idle[campaign] <= own
        assert idle[campaign] - in_flight.get(campaign, 0) <= wanted.get(campaign, 0)


def test_last_mile_dnc_wins_over_a_valid_clearance() -> None:
    later = NOW + timedelta(minutes=5)
    assert last_mile_verdict(valid_until=later, now=NOW, on_dnc=True) is ReturnReason.DNC
    assert last_mile_verdict(valid_until=later, now=NOW, on_dnc=False) is None


def test_last_mile_clearance_is_valid_strictly_before_valid_until() -> None:
    assert last_mile_verdict(valid_until=NOW, now=NOW, on_dnc=False) is (
        ReturnReason.CLEARANCE_EXPIRED)
    assert last_mile_verdict(valid_until=NOW + timedelta(microseconds=1), now=NOW,
                             on_dnc=False) is None


def test_dnc_lists_scope() -> None:
    assert dnc_list_applies("tenant", "camp-1")
    assert dnc_list_applies("campaign:camp-1", "camp-1")
    assert not dnc_list_applies("campaign:camp-2", "camp-1")
    assert dnc_list_applies("us-national", "camp-1")  # registries: fail closed


def test_ring_timeout_never_below_fifteen_seconds() -> None:
    assert effective_ring_timeout(5.0) == MIN_RING_TIMEOUT_S == 15.0
    assert effective_ring_timeout(30.0) == 30.0
