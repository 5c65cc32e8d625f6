"""Campaign aggregate: settings validation and the lifecycle state machine.

    created --start--> running <--pause/start--> paused
    created | running | paused --stop--> stopped   (terminal)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SUPPORTED_DIAL_MODES = frozenset({"progressive"})
MAX_ATTEMPTS_RANGE = (1, 20)
# Legal abandon threshold: a live answer not connected to an agent within this many REAL
# seconds is abandoned (US TSR 2 s). Fixed in this slice; never scaled by time_scale.
ABANDON_THRESHOLD_S = 2.0


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


@dataclass(frozen=True)
class CampaignSettings:
    """What a campaign dials and how (delays in seconds)."""

    name: str
    list_ids: tuple[str, ...]
    dial_mode: str = "progressive"
    max_attempts: int = 3
    retry_delay_s: int = 3600
    abandon_threshold_s: float = ABANDON_THRESHOLD_S

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidCampaign("name must not be blank")
        if not self.list_ids:
            raise InvalidCampaign("list_ids must name at least one list")
        if self.dial_mode not in SUPPORTED_DIAL_MODES:
            raise InvalidCampaign(f"dial_mode {self.dial_mode!r} is not supported yet; "
                                  f"supported: {', '.join(sorted(SUPPORTED_DIAL_MODES))}")
        low, high = MAX_ATTEMPTS_RANGE
        if not low <= self.max_attempts <= high:
            raise InvalidCampaign(f"max_attempts must be between {low} and {high}")
        if self.retry_delay_s < 0:
            raise InvalidCampaign("retry_delay_s must be >= 0")
        if self.abandon_threshold_s != ABANDON_THRESHOLD_S:
            raise InvalidCampaign(f"abandon_threshold_s is fixed at {ABANDON_THRESHOLD_S} s")
