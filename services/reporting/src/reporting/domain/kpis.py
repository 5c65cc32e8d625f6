"""KPI formulas of the KPI glossary (design/kpis.md), computed from fact totals only.

Totals come from two fact tables and nowhere else: :class:`CallTotals` from the call
facts, :class:`AgentTime` from the agent state intervals. Each formula is stated next to
its number in ``definitions``. A rate whose denominator is 0 is ``None`` (unknown), never
0 and never an error. Times are reported in seconds; totals are kept in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)`` in UTC; a None bound is open (all time on that side)."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class CallTotals:
    """Counts and summed durations (ms) over a set of call facts."""

    dials: int = 0
    connects: int = 0
    contacts: int = 0
    conversions: int = 0
    abandoned: int = 0
    handled: int = 0
    talk_ms: int = 0  # over handled calls
    acw_ms: int = 0  # over handled calls


@dataclass(frozen=True)
class AgentTime:
    """Milliseconds agents spent in each logged-in state (clipped to the range asked)."""

    ready_ms: int = 0
    paused_ms: int = 0
    on_call_ms: int = 0
    wrap_up_ms: int = 0

    @property
    def logged_in_ms(self) -> int:
        return self.ready_ms + self.paused_ms + self.on_call_ms + self.wrap_up_ms

    @property
    def working_ms(self) -> int:
        """Talk + after-call work (no hold state exists yet)."""
        return self.on_call_ms + self.wrap_up_ms


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when the denominator is 0."""
    return numerator / denominator if denominator else None


def _seconds_per(total_ms: int, count: int) -> float | None:
    per = ratio(total_ms, count)
    return None if per is None else per / 1000.0


def occupancy(time: AgentTime) -> float | None:
    """(talk + ACW) ÷ (talk + ACW + ready)."""
    return ratio(time.working_ms, time.working_ms + time.ready_ms)


def utilisation(time: AgentTime) -> float | None:
    """(talk + ACW + ready) ÷ logged-in time."""
    return ratio(time.working_ms + time.ready_ms, time.logged_in_ms)


@dataclass(frozen=True)
class HandlingKpis:
    """Per-handled-call averages (seconds)."""

    handled_calls: int
    att_s: float | None
    acw_s: float | None
    aht_s: float | None

    @classmethod
    def of(cls, calls: CallTotals) -> HandlingKpis:
        att = _seconds_per(calls.talk_ms, calls.handled)
        acw = _seconds_per(calls.acw_ms, calls.handled)
        aht = None if att is None or acw is None else att + acw
        return cls(calls.handled, att, acw, aht)


@dataclass(frozen=True)
class CampaignKpis:
    dials: int
    connects: int
    contacts: int
    contact_rate: float | None
    right_party_contacts: int | None
    conversions: int
    conversion_rate: float | None
    conversion_per_contact: float | None
    abandoned: int
    abandon_rate: float | None
    handled_calls: int
    att_s: float | None
    acw_s: float | None
    aht_s: float | None
    occupancy: float | None
    utilisation: float | None


@dataclass(frozen=True)
class AgentKpis:
    handled_calls: int
    conversions: int
    att_s: float | None
    acw_s: float | None
    aht_s: float | None
    occupancy: float | None
    utilisation: float | None


def campaign_kpis(calls: CallTotals, time: AgentTime) -> CampaignKpis:
    """A campaign's KPIs from its call facts and its agents' state time."""
    handling = HandlingKpis.of(calls)
    return CampaignKpis(
        dials=calls.dials,
        connects=calls.connects,
        contacts=calls.contacts,
        contact_rate=ratio(calls.contacts, calls.dials),
        # Dispositions do not say yet whether the person reached was the intended one.
        right_party_contacts=None,
        conversions=calls.conversions,
        conversion_rate=ratio(calls.conversions, calls.dials),
        conversion_per_contact=ratio(calls.conversions, calls.contacts),
        abandoned=calls.abandoned,
        abandon_rate=ratio(calls.abandoned, calls.contacts),
        handled_calls=handling.handled_calls,
        att_s=handling.att_s,
        acw_s=handling.acw_s,
        aht_s=handling.aht_s,
        occupancy=occupancy(time),
        utilisation=utilisation(time),
    )


def agent_kpis(calls: CallTotals, time: AgentTime) -> AgentKpis:
    """An agent's KPIs from the calls it handled and its own state time."""
    handling = HandlingKpis.of(calls)
    return AgentKpis(
        handled_calls=handling.handled_calls,
        conversions=calls.conversions,
        att_s=handling.att_s,
        acw_s=handling.acw_s,
        aht_s=handling.aht_s,
        occupancy=occupancy(time),
        utilisation=utilisation(time),
    )


_HANDLED = "handled calls = calls connected to an agent that have ended"
_TIME_DEFINITIONS = {
    "handled_calls": _HANDLED,
    "att_s": "ATT (s) = Σ talk time of handled calls (call.ended talk_ms) ÷ handled calls",
    "acw_s": "ACW (s) = Σ wrap-up time of handled calls (the agent's wrap_up interval for "
             "the call) ÷ handled calls",
    "aht_s": "AHT (s) = ATT + ACW (no hold state yet, so average hold = 0)",
    "occupancy": "(talk + ACW) ÷ (talk + ACW + ready/waiting), from agent state intervals "
                 "(talk = on_call, ACW = wrap_up, waiting = ready), clipped to the range",
    "utilisation": "(talk + ACW + ready/waiting) ÷ logged-in time (ready + paused + on_call + "
                   "wrap_up), from agent state intervals clipped to the range",
}
CAMPAIGN_DEFINITIONS: dict[str, str] = {
    "dials": "dial attempts placed (call.dialed)",
    "connects": "attempts answered by a person or a machine (call.answered)",
    "contacts": "attempts answered by a live person (call.answered, answered_by = human)",
    "contact_rate": "contacts ÷ dials",
    "right_party_contacts": "not reported yet (null): dispositions do not carry whether the "
                            "intended person was reached",
    "conversions": "contacts dispositioned with a success category (sale, appointment, "
                   "promise to pay)",
    "conversion_rate": "conversions ÷ dials",
    "conversion_per_contact": "conversions ÷ contacts",
    "abandoned": "live answers not connected to an agent within the abandon threshold "
                 "(call.abandoned)",
    "abandon_rate": "abandoned ÷ live answers (contacts), over the selected range",
    **_TIME_DEFINITIONS,
    "occupancy": _TIME_DEFINITIONS["occupancy"] + ", of agents logged into the campaign",
    "utilisation": _TIME_DEFINITIONS["utilisation"] + ", of agents logged into the campaign",
}
AGENT_DEFINITIONS: dict[str, str] = {
    "handled_calls": _HANDLED + ", by this agent",
    "conversions": "contacts handled by this agent dispositioned with a success category",
    **{k: v for k, v in _TIME_DEFINITIONS.items() if k != "handled_calls"},
}
RANGE_NOTE = ("calls count in the range by their dial time (from inclusive, to exclusive); "
              "agent time counts the part of each state interval inside the range; a rate "
              "is null when its denominator is 0")
