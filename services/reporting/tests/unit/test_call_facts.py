"""Call-fact patches merge to the same row in any order of arrival."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from common.events.catalog import (
    CallAbandonedV1,
    CallAnsweredV1,
    CallConnectedV1,
    CallDialedV1,
    CallEndedV1,
    DispositionSubmittedV1,
)
from reporting.domain.call_facts import CallPatch, call_patch, merge_patch

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
IDS = {"call_id": "call-1", "campaign_id": "camp-1", "lead_id": "lead-1"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


HANDLED_CALL = [
    CallDialedV1(**IDS, at=at(0), attempt=1),
    CallAnsweredV1(**IDS, at=at(10), answered_by="human"),
    CallConnectedV1(**IDS, at=at(11), agent_id="agent-1", wait_ms=1000),
    CallEndedV1(**IDS, at=at(71), outcome="completed", ring_ms=10_000, talk_ms=60_000,
                agent_id="agent-1"),
    DispositionSubmittedV1(**IDS, agent_id="agent-1", disposition="sale", category="success",
                           at=at(101)),
]


def fold(events: list) -> CallPatch:
    row: CallPatch = {}
    for event in events:
        merge_patch(row, call_patch(event))
    return row


def test_a_handled_call_becomes_one_complete_row() -> None:
    assert fold(HANDLED_CALL) == {
        "campaign_id": "camp-1", "lead_id": "lead-1", "dialed_at": at(0), "answered_at": at(10),
        "answered_by": "human", "connected_at": at(11), "agent_id": "agent-1", "wait_ms": 1000,
        "ended_at": at(71), "outcome": "completed", "ring_ms": 10_000, "talk_ms": 60_000,
        "disposition": "sale", "category": "success", "disposition_at": at(101),
    }


def test_every_order_of_arrival_gives_the_same_row() -> None:
    expected = fold(HANDLED_CALL)
    for order in itertools.permutations(HANDLED_CALL):
        assert fold(list(order)) == expected


def test_a_later_null_never_erases_and_identity_is_set_once() -> None:
    row = fold(HANDLED_CALL[:3])
    # call.ended without agent (optional field) after the connection keeps the agent
    merge_patch(row, call_patch(CallEndedV1(**IDS, at=at(71), outcome="completed",
                                            ring_ms=10_000, talk_ms=60_000)))
    assert row["agent_id"] == "agent-1"
    merge_patch(row, {"agent_id": "agent-2", "acw_ms": 30_000})
    assert row["agent_id"] == "agent-1"
    assert row["acw_ms"] == 30_000


def test_an_abandoned_call_is_flagged_by_either_of_its_events() -> None:
    abandoned = CallAbandonedV1(**IDS, at=at(12), wait_ms=2000)
    ended = CallEndedV1(**IDS, at=at(14), outcome="abandoned", ring_ms=8000)
    assert call_patch(abandoned)["abandoned"] is True
    assert call_patch(ended)["abandoned"] is True
    assert fold([ended, abandoned]) == fold([abandoned, ended])
    assert "abandoned" not in call_patch(HANDLED_CALL[3])
