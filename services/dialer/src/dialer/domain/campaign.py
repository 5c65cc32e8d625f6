"""Campaign aggregate: settings validation and the lifecycle state machine.

    created --start--> running <--pause/start--> paused
    created | running | paused --stop--> stopped   (terminal)
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any

import phonenumbers

from dialer.domain.dialing import MIN_RING_TIMEOUT_S

MAX_ATTEMPTS_RANGE = (1, 20)
# Legal abandon threshold: a live answer not connected to an agent within this many REAL
# seconds is abandoned (US TSR 2 s). Fixed; never scaled by time_scale.
ABANDON_THRESHOLD_S = 2.0
MAX_LINES_PER_AGENT = 10.0  # hard ceiling of the per-agent line cap a tenant may set
MIN_PREVIEW_TIMEOUT_S = 5.0
# Upper bounds (seconds): a call rings at most this long, a preview waits at most this long,
# a retry is at most this far away (within a 32-bit integer column).
MAX_RING_TIMEOUT_S = 120.0
MAX_PREVIEW_TIMEOUT_S = 3600.0
MAX_RETRY_DELAY_S = 30 * 86_400
PRIORITY_RANGE = (-1000, 1000)
MAX_MESSAGE_CHARS = 1000


class DialMode(StrEnum):
    """How a campaign's calls are started (preview: by the agent; others: by pacing)."""

    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    POWER = "power"
    PREDICTIVE = "predictive"


# Modes that dial more lines than agents: an abandon is possible, so a message is required.
OVERDIAL_MODES = frozenset({DialMode.POWER, DialMode.PREDICTIVE})


class AmdAction(StrEnum):
    """What to do with a call the answering-machine detection says is a machine."""

    HANG_UP = "hang_up"
    LEAVE_MESSAGE = "leave_message"


class LeadOrdering(StrEnum):
    """Which hopper lead is dialed (or previewed) first."""

    FIFO = "fifo"  # oldest clearance first
    NEWEST_FIRST = "newest_first"
    FEWEST_ATTEMPTS_FIRST = "fewest_attempts_first"  # then oldest first


class PreviewTimeoutAction(StrEnum):
    """What happens to a previewed lead the agent neither dials nor skips in time."""

    DIAL = "dial"
    SKIP = "skip"


class CampaignState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class CampaignCommand(StrEnum):
    START = "start"
    PAUSE = "pause"
    STOP = "stop"


# command -> (states it is valid from, resulting state)
_TRANSITIONS: dict[CampaignCommand, tuple[frozenset[CampaignState], CampaignState]] = {
    CampaignCommand.START: (frozenset({CampaignState.CREATED, CampaignState.PAUSED}),
                            CampaignState.RUNNING),
    CampaignCommand.PAUSE: (frozenset({CampaignState.RUNNING}), CampaignState.PAUSED),
    CampaignCommand.STOP: (frozenset({CampaignState.CREATED, CampaignState.RUNNING,
                                      CampaignState.PAUSED}), CampaignState.STOPPED),
}


class InvalidTransition(Exception):
    """A lifecycle command was given in a state that does not accept it."""

    def __init__(self, command: CampaignCommand, current: CampaignState,
                 expected: frozenset[CampaignState]) -> None:
        self.command, self.current, self.expected = command, current, expected
        names = " or ".join(sorted(s.value for s in expected))
        super().__init__(f"cannot {command.value} a campaign that is {current.value}; "
                         f"{command.value} expects a campaign that is {names}")


class InvalidCampaign(ValueError):
    """Campaign settings that the dialer cannot run."""


def next_state(current: CampaignState, command: CampaignCommand) -> CampaignState:
    """The state after ``command``; raises :class:`InvalidTransition` if not allowed."""
    allowed, target = _TRANSITIONS[command]
    if current not in allowed:
        raise InvalidTransition(command, current, allowed)
    return target


def normalise_caller_id(value: str) -> str:
    """The caller ID in E.164, or :class:`InvalidCampaign` saying why not (never echoing
    the number: messages may be logged)."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InvalidCampaign("caller_id must be an E.164 number such as +12125550100 "
                              "(a leading + and the country code)") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidCampaign("caller_id is not a valid phone number for its country code")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class CampaignSettings:
    """What a campaign dials and how (durations in seconds, rates as fractions).

    - ``max_lines_per_agent``: cap on lines (ringing + waiting) per available agent, every
      mode; ``lines_per_agent``: power mode's lines per idle agent;
    - ``ring_timeout_s``: give up ringing after this long (never under 15 s);
    - ``amd_action`` (+ ``amd_message`` to leave on a machine); ``abandon_message``:
      played to a live answer no agent took within 2 s (required to start);
    - ``caller_id``: E.164, required to start; ``target_abandon_rate``: may only tighten
      the budget compliance sets; ``amd_false_positive_rate``: share of the AMD's machine
      verdicts that are live people, counted as abandons where the rules say so (UK);
    - ``priority``: higher gets shared agents first; ``lead_ordering``: hopper order;
    - ``preview_timeout_s`` / ``preview_timeout_action``: preview mode.
    """

    name: str
    list_ids: tuple[str, ...]
    dial_mode: str = DialMode.PROGRESSIVE.value
    max_attempts: int = 3
    retry_delay_s: int = 3600
    abandon_threshold_s: float = ABANDON_THRESHOLD_S
    max_lines_per_agent: float = 3.0
    lines_per_agent: float = 2.0
    ring_timeout_s: float = 25.0
    amd_action: str = AmdAction.HANG_UP.value
    amd_message: str | None = None
    abandon_message: str | None = None
    caller_id: str | None = None
    product: str | None = None
    requires_consent: bool = False
    target_abandon_rate: float | None = None
    amd_false_positive_rate: float = 0.0
    priority: int = 0
    lead_ordering: str = LeadOrdering.FIFO.value
    preview_timeout_s: float = 60.0
    preview_timeout_action: str = PreviewTimeoutAction.SKIP.value

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidCampaign("name must not be blank")
        if not self.list_ids:
            raise InvalidCampaign("list_ids must name at least one list")
        _one_of("dial_mode", self.dial_mode, DialMode)
        _one_of("amd_action", self.amd_action, AmdAction)
        _one_of("lead_ordering", self.lead_ordering, LeadOrdering)
        _one_of("preview_timeout_action", self.preview_timeout_action, PreviewTimeoutAction)
        low, high = MAX_ATTEMPTS_RANGE
        if not low <= self.max_attempts <= high:
            raise InvalidCampaign(f"max_attempts must be between {low} and {high}")
        if not 0 <= self.retry_delay_s <= MAX_RETRY_DELAY_S:
            raise InvalidCampaign(f"retry_delay_s must be between 0 and {MAX_RETRY_DELAY_S} s "
                                  "(30 days)")
        low, high = PRIORITY_RANGE
        if not low <= self.priority <= high:
            raise InvalidCampaign(f"priority must be between {low} and {high}")
        if self.abandon_threshold_s != ABANDON_THRESHOLD_S:
            raise InvalidCampaign(f"abandon_threshold_s is fixed at {ABANDON_THRESHOLD_S} s")
        # `not low <= x <= high` also rejects NaN (every comparison with NaN is false)
        if not MIN_RING_TIMEOUT_S <= self.ring_timeout_s <= MAX_RING_TIMEOUT_S:
            raise InvalidCampaign(
                f"ring_timeout_s must be between {MIN_RING_TIMEOUT_S:.0f} and "
                f"{MAX_RING_TIMEOUT_S:.0f} s: regulators require letting a call ring "
                f"{MIN_RING_TIMEOUT_S:.0f} s (about four rings) before giving up")
        if not 1.0 <= self.max_lines_per_agent <= MAX_LINES_PER_AGENT:
            raise InvalidCampaign(
                f"max_lines_per_agent must be between 1 and {MAX_LINES_PER_AGENT:.0f}")
        if not 1.0 <= self.lines_per_agent <= self.max_lines_per_agent:
            raise InvalidCampaign("lines_per_agent must be between 1 and max_lines_per_agent "
                                  f"({self.max_lines_per_agent:g})")
        if self.target_abandon_rate is not None and not 0.0 < self.target_abandon_rate < 1.0:
            raise InvalidCampaign("target_abandon_rate must be a fraction in (0, 1), "
                                  "e.g. 0.02 for 2%")
        if not 0.0 <= self.amd_false_positive_rate <= 0.5:
            raise InvalidCampaign("amd_false_positive_rate must be between 0 and 0.5")
        if not MIN_PREVIEW_TIMEOUT_S <= self.preview_timeout_s <= MAX_PREVIEW_TIMEOUT_S:
            raise InvalidCampaign(f"preview_timeout_s must be between {MIN_PREVIEW_TIMEOUT_S:.0f} "
                                  f"and {MAX_PREVIEW_TIMEOUT_S:.0f} s")
        for name in ("amd_message", "abandon_message"):
            message = getattr(self, name)
            if message is not None and not 0 < len(message.strip()) <= MAX_MESSAGE_CHARS:
                raise InvalidCampaign(f"{name} must be 1 to {MAX_MESSAGE_CHARS} characters")
        if self.amd_action == AmdAction.LEAVE_MESSAGE and self.amd_message is None:
            raise InvalidCampaign("amd_action leave_message needs amd_message (what to leave)")
        if self.caller_id is not None:
            object.__setattr__(self, "caller_id", normalise_caller_id(self.caller_id))

    def updated(self, **changes: Any) -> CampaignSettings:
        """A copy with ``changes`` applied and validated as a whole."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise InvalidCampaign(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(self, **changes)

    def check_startable(self) -> None:
        """What a campaign needs before it may dial (and while it runs or is paused): the
        caller ID and the abandon message (every mode can abandon a live answer: power and
        predictive by overdialing, progressive and preview when the agent is gone)."""
        if self.caller_id is None:
            raise InvalidCampaign("caller_id is required to start a campaign: every call "
                                  "presents a number that accepts do-not-call requests")
        if self.abandon_message is None:
            raise InvalidCampaign(
                "abandon_message is required to start a campaign: a live answer no agent "
                "takes within 2 s is abandoned and must hear identification and opt-out")


def _one_of(name: str, value: str, allowed: type[StrEnum]) -> None:
    choices = [m.value for m in allowed]
    if value not in choices:
        raise InvalidCampaign(f"{name} {value!r} is not one of {', '.join(choices)}")
