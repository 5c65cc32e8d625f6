"""Progressive pacing, agent coverage across campaigns, last-mile check, ring timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from dialer.domain.dialing import (
    MIN_RING_TIMEOUT_S,
    ReturnReason,
    allocate_lines,
    dnc_list_applies,
    effective_ring_timeout,
    last_mile_verdict,
    lines_to_dial,
)

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_progressive_dials_one_line_per_uncovered_ready_agent() -> None:
    assert lines_to_dial(5, 0) == 5
    assert lines_to_dial(5, 3) == 2
    assert lines_to_dial(2, 4) == 0
    assert lines_to_dial(0, 0) == 0


def test_agent_shared_by_two_campaigns_covers_one_call() -> None:
    lines = allocate_lines({"a1": {"X", "Y"}}, {}, {"X", "Y"})
    assert sum(lines.values()) == 1


def test_calls_in_flight_are_matched_to_leave_agents_free() -> None:
    # X's call in flight is covered by its specialist, leaving the shared agent to Y.
    lines = allocate_lines({"x-only": {"X"}, "both": {"X", "Y"}}, {"X": 1}, {"Y"})
    assert lines == {"Y": 1}


def test_a_call_in_flight_moves_to_another_agent_to_free_one() -> None:
    # Greedy would give X's call to "xy" (first by name) and leave Y's call uncovered.
    lines = allocate_lines({"xy": {"X", "Y"}, "xz": {"X", "Z"}}, {"X": 1, "Y": 1}, {"Z"})
    assert lines == {"Z": 0}


def test_calls_of_a_paused_campaign_still_hold_their_agents() -> None:
    lines = allocate_lines({"a1": {"P", "R"}, "a2": {"P", "R"}}, {"P": 2}, {"R"})
    assert lines == {"R": 0}


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
       running=st.sets(campaign_ids))
def test_never_more_calls_in_flight_than_ready_agents(
        agents: dict[str, set[str]], in_flight: dict[str, int], running: set[str]) -> None:
    lines = allocate_lines(agents, in_flight, running)
    assert set(lines) == running
    old = [c for c, n in in_flight.items() for _ in range(n)]
    new = [c for c, n in lines.items() for _ in range(n)]
    # every new call gets an agent of its own, without uncovering a call in flight
    assert _max_matching(agents, old + new) == _max_matching(agents, old) + len(new)
    for campaign, n in lines.items():  # and progressive per campaign
        own = sum(1 for cs in agents.values() if campaign in cs)
        assert n <= lines_to_dial(own, in_flight.get(campaign, 0))
    # a campaign dials less than progressive only when no agent is left to cover one more
    for campaign in running:
        own = sum(1 for cs in agents.values() if campaign in cs)
        if lines[campaign] < lines_to_dial(own, in_flight.get(campaign, 0)):
            assert _max_matching(agents, [*old, *new, campaign]) == _max_matching(agents, old + new)


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
