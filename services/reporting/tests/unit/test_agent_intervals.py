"""Agent state changes fold into intervals; wrap-up intervals give each call its ACW."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.events.catalog import AgentStateChangedV1
from reporting.domain.agent_intervals import AgentInterval, epoch_ms, fold_state_changes

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def change(state: str, seconds: float, *, call_id: str | None = None,
           campaigns: tuple[str, ...] = ("camp-1",), session: str = "s1") -> AgentStateChangedV1:
    return AgentStateChangedV1(agent_id="agent-1", session_id=session, state=state,
                               campaign_ids=list(campaigns), call_id=call_id, at=at(seconds))


def test_epoch_ms_is_exact() -> None:
    assert epoch_ms(datetime(1970, 1, 1, 0, 0, 1, 999, tzinfo=UTC)) == 1000
    assert epoch_ms(at(0.5)) - epoch_ms(at(0)) == 500


def test_each_change_closes_the_previous_interval() -> None:
    folded = fold_state_changes([], [
        ("e1", change("ready", 0)),
        ("e2", change("on_call", 10, call_id="call-1")),
        ("e3", change("wrap_up", 70, call_id="call-1")),
        ("e4", change("ready", 100)),
    ])
    assert folded.closed == []
    assert [(i.interval_id, i.state, i.duration_ms) for i in folded.opened] == [
        ("e1", "ready", 10_000), ("e2", "on_call", 60_000), ("e3", "wrap_up", 30_000),
        ("e4", "ready", None)]
    assert folded.wrap_up_ms_by_call() == {"call-1": 30_000}


def test_the_open_interval_from_an_earlier_poll_is_closed() -> None:
    open_wrap_up = AgentInterval(
        interval_id="e3", agent_id="agent-1", session_id="s1", state="wrap_up", reason=None,
        campaign_ids=("camp-1",), call_id="call-1", started_at=at(70))
    folded = fold_state_changes([open_wrap_up], [("e4", change("ready", 95))])
    assert [(i.interval_id, i.ended_at) for i in folded.closed] == [("e3", at(95))]
    assert folded.opened[0].ended_at is None
    assert folded.wrap_up_ms_by_call() == {"call-1": 25_000}


def test_a_change_without_campaigns_keeps_the_sessions_campaigns() -> None:
    folded = fold_state_changes([], [
        ("e1", change("ready", 0, campaigns=("camp-1", "camp-2"))),
        ("e2", change("paused", 10, campaigns=())),
        ("e3", change("ready", 20, campaigns=(), session="s2")),  # new session: no inheritance
    ])
    assert [i.campaign_ids for i in folded.opened] == [
        ("camp-1", "camp-2"), ("camp-1", "camp-2"), ()]


def test_an_end_before_the_start_is_a_zero_length_interval() -> None:
    folded = fold_state_changes([], [("e1", change("ready", 10)), ("e2", change("paused", 9))])
    assert folded.opened[0].duration_ms == 0
