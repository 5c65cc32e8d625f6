"""Campaign lifecycle and settings rules."""

from __future__ import annotations

import pytest

from dialer.domain.campaign import (
    CampaignCommand,
    CampaignSettings,
    CampaignState,
    InvalidCampaign,
    InvalidTransition,
    next_state,
)

C, R, P, S = (CampaignState.CREATED, CampaignState.RUNNING, CampaignState.PAUSED,
              CampaignState.STOPPED)
START, PAUSE, STOP = CampaignCommand.START, CampaignCommand.PAUSE, CampaignCommand.STOP


@pytest.mark.parametrize(("state", "command", "expected"), [
    (C, START, R), (P, START, R), (R, PAUSE, P),
    (C, STOP, S), (R, STOP, S), (P, STOP, S),
])
def test_allowed_transitions(state: CampaignState, command: CampaignCommand,
                             expected: CampaignState) -> None:
    assert next_state(state, command) is expected


@pytest.mark.parametrize(("state", "command"), [
    (R, START), (S, START), (C, PAUSE), (P, PAUSE), (S, PAUSE), (S, STOP),
])
def test_invalid_transitions_name_the_current_and_expected_states(
        state: CampaignState, command: CampaignCommand) -> None:
    with pytest.raises(InvalidTransition) as err:
        next_state(state, command)
    assert err.value.current is state
    assert f"is {state.value}" in str(err.value)


def test_settings_defaults() -> None:
    s = CampaignSettings(name="Renewals", list_ids=("list-1",))
    assert (s.dial_mode, s.max_attempts, s.retry_delay_s, s.abandon_threshold_s) == (
        "progressive", 3, 3600, 2.0)


@pytest.mark.parametrize(("fields", "message"), [
    ({"list_ids": ()}, "at least one list"),
    ({"dial_mode": "predictive"}, "not supported yet"),
    ({"max_attempts": 0}, "between 1 and 20"),
    ({"max_attempts": 21}, "between 1 and 20"),
    ({"retry_delay_s": -1}, ">= 0"),
    ({"abandon_threshold_s": 3.0}, "fixed at 2.0"),
    ({"name": "  "}, "blank"),
])
def test_invalid_settings(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"name": "x", "list_ids": ("l",)}
    with pytest.raises(InvalidCampaign, match=message):
        CampaignSettings(**(base | fields))  # type: ignore[arg-type]
