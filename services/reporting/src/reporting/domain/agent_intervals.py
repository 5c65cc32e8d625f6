"""Agent state intervals: one row per state an agent was in, from one state change to the next.

An ``AgentStateChangedV1`` opens an interval and closes the agent's open one at the same
instant. Events of one agent share a partition key, so they arrive in order and folding
them is deterministic: a replay from the log rebuilds the same intervals (the interval id
is the id of the event that opened it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from common.events.catalog import AgentStateChangedV1

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOGGED_OUT = "logged_out"
WRAP_UP = "wrap_up"


def epoch_ms(at: datetime) -> int:
    """Milliseconds since the Unix epoch (exact integer arithmetic, no float rounding)."""
    return (at - EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class AgentInterval:
    """An agent's stay in one state; ``ended_at`` is None while it lasts."""

    interval_id: str
    agent_id: str
    session_id: str
    state: str
    reason: str | None
    campaign_ids: tuple[str, ...]
    call_id: str | None
    started_at: datetime
    ended_at: datetime | None = None

    @property
    def duration_ms(self) -> int | None:
        """Length in milliseconds, or None while the interval is open."""
        if self.ended_at is None:
            return None
        return epoch_ms(self.ended_at) - epoch_ms(self.started_at)

    def closed_at(self, at: datetime) -> AgentInterval:
        """This interval ended at ``at`` (never before it started: clock skew gives 0 ms)."""
        return replace(self, ended_at=max(at, self.started_at))


@dataclass
class IntervalChanges:
    """What one batch of state changes does to an agent's intervals."""

    closed: list[AgentInterval] = field(default_factory=list)  # were open, now ended
    opened: list[AgentInterval] = field(default_factory=list)  # new (possibly ended already)

    def wrap_up_ms_by_call(self) -> dict[str, int]:
        """After-call work per call id (ms): the wrap-up intervals this batch ended."""
        acw: dict[str, int] = {}
        for interval in (*self.closed, *self.opened):
            ms = interval.duration_ms
            if interval.state == WRAP_UP and interval.call_id and ms is not None:
                acw[interval.call_id] = ms
        return acw


def fold_state_changes(
    open_intervals: Iterable[AgentInterval],
    changes: Sequence[tuple[str, AgentStateChangedV1]],
) -> IntervalChanges:
    """Apply one agent's state changes (``(event_id, payload)``, in order) to its open intervals.

    A change without ``campaign_ids`` keeps the campaigns of the interval before it in the
    same session, so an agent's time stays attributed to the campaigns it is logged into.
    """
    result = IntervalChanges()
    still_open = sorted(open_intervals, key=lambda i: i.started_at)
    previous = still_open[-1] if still_open else None
    for event_id, change in changes:
        result.closed.extend(i.closed_at(change.at) for i in still_open)
        still_open = []
        if result.opened and result.opened[-1].ended_at is None:
            result.opened[-1] = result.opened[-1].closed_at(change.at)
        campaigns = tuple(change.campaign_ids)
        if (not campaigns and previous is not None and change.state != LOGGED_OUT
                and previous.session_id == change.session_id):
            campaigns = previous.campaign_ids
        previous = AgentInterval(
            interval_id=event_id, agent_id=change.agent_id, session_id=change.session_id,
            state=change.state, reason=change.reason, campaign_ids=campaigns,
            call_id=change.call_id, started_at=change.at,
        )
        result.opened.append(previous)
    return result
