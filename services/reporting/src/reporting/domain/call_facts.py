"""One fact row per call, merged field by field from events that arrive in any order.

The call's own events travel on ``calls`` (keyed by call id) and its disposition on
``agents`` (keyed by agent id): the two can arrive in either order, and a consumer can
be restarted between them. So every event contributes a *patch* (only the fields it
knows) and patches merge with two order-free rules:

- identity fields (campaign, lead, agent) are set once: the first non-null value stays;
- lifecycle fields are each written by one event type: a non-null value replaces the
  stored one (a re-sent event of the same type, which comes later on the same partition,
  wins), a null never erases.

Applying the same patches in any interleaving of the two topics gives the same row.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from common.events.catalog import (
    CallAbandonedV1,
    CallAnsweredV1,
    CallConnectedV1,
    CallDialedV1,
    CallEndedV1,
    DispositionSubmittedV1,
)

CallPatch = dict[str, Any]
"""Column name → value for the fields of a call fact that one event knows."""

CALL_FACT_FIELDS: tuple[str, ...] = (
    "campaign_id", "lead_id", "dialed_at", "answered_at", "answered_by", "connected_at",
    "agent_id", "wait_ms", "abandoned", "ended_at", "outcome", "ring_ms", "talk_ms",
    "disposition", "category", "disposition_at", "acw_ms",
)
SET_ONCE_FIELDS = frozenset({"campaign_id", "lead_id", "agent_id"})

CallEvent: TypeAlias = (
    CallDialedV1 | CallAnsweredV1 | CallConnectedV1 | CallAbandonedV1 | CallEndedV1
    | DispositionSubmittedV1
)
CALL_EVENT_CLASSES = (CallDialedV1, CallAnsweredV1, CallConnectedV1, CallAbandonedV1,
                      CallEndedV1, DispositionSubmittedV1)
CALL_FACT_EVENT_TYPES = frozenset(cls.event_type for cls in CALL_EVENT_CLASSES)


def call_patch(event: CallEvent) -> CallPatch:
    """The fields of the call fact that ``event`` sets (times UTC, durations ms)."""
    patch: CallPatch = {"campaign_id": event.campaign_id, "lead_id": event.lead_id}
    match event:
        case CallDialedV1():
            patch["dialed_at"] = event.at
        case CallAnsweredV1():
            patch |= {"answered_at": event.at, "answered_by": event.answered_by}
        case CallConnectedV1():
            patch |= {"connected_at": event.at, "agent_id": event.agent_id,
                      "wait_ms": event.wait_ms}
        case CallAbandonedV1():
            patch |= {"abandoned": True, "wait_ms": event.wait_ms}
        case CallEndedV1():
            patch |= {"ended_at": event.at, "outcome": event.outcome, "ring_ms": event.ring_ms,
                      "talk_ms": event.talk_ms, "agent_id": event.agent_id}
            if event.outcome == "abandoned":
                patch["abandoned"] = True  # same call, same flag: still counted once
        case DispositionSubmittedV1():
            patch |= {"agent_id": event.agent_id, "disposition": event.disposition,
                      "category": event.category, "disposition_at": event.at}
    return patch


def merge_patch(into: CallPatch, patch: CallPatch) -> None:
    """Merge ``patch`` into ``into`` in place with the same rules as the database upsert."""
    for name, value in patch.items():
        if value is None or (name in SET_ONCE_FIELDS and into.get(name) is not None):
            continue
        into[name] = value
