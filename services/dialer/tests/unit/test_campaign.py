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
    ({"dial_mode": "turbo"}, "dial_mode 'turbo' is not one of preview, progressive"),
    ({"ring_timeout_s": 14.9}, "between 15 and 120 s: regulators require"),
    ({"ring_timeout_s": 121}, "between 15 and 120 s"),
    ({"ring_timeout_s": float("nan")}, "between 15 and 120 s"),
    ({"ring_timeout_s": float("inf")}, "between 15 and 120 s"),
    ({"preview_timeout_s": 1e12}, "between 5 and 3600 s"),
    ({"preview_timeout_s": float("nan")}, "between 5 and 3600 s"),
    ({"max_lines_per_agent": float("nan")}, "max_lines_per_agent must be between 1 and 10"),
    ({"amd_false_positive_rate": float("nan")}, "between 0 and 0.5"),
    ({"target_abandon_rate": float("nan")}, r"fraction in \(0, 1\)"),
    ({"priority": 2**31}, "priority must be between -1000 and 1000"),
    ({"retry_delay_s": 2**31}, "retry_delay_s must be between 0 and 2592000"),
    ({"max_lines_per_agent": 0.5}, "max_lines_per_agent must be between 1 and 10"),
    ({"max_lines_per_agent": 11}, "max_lines_per_agent must be between 1 and 10"),
    ({"lines_per_agent": 4, "max_lines_per_agent": 3}, r"between 1 and max_lines_per_agent \(3\)"),
    ({"amd_action": "beep"}, "amd_action 'beep' is not one of hang_up, leave_message"),
    ({"amd_action": "leave_message"}, "needs amd_message"),
    ({"abandon_message": " "}, "abandon_message must be 1 to 1000"),
    ({"target_abandon_rate": 0.0}, r"fraction in \(0, 1\)"),
    ({"target_abandon_rate": 1.5}, r"fraction in \(0, 1\)"),
    ({"amd_false_positive_rate": 0.6}, "between 0 and 0.5"),
    ({"lead_ordering": "random"}, "lead_ordering 'random' is not one of fifo"),
    ({"preview_timeout_s": 1}, "between 5 and 3600 s"),
    ({"preview_timeout_action": "wait"}, "preview_timeout_action 'wait'"),
    ({"caller_id": "12"}, "caller_id must be an E.164 number"),
    ({"caller_id": "+1 999 555 0100"}, "not a valid phone number"),
    ({"max_attempts": 0}, "between 1 and 20"),
    ({"max_attempts": 21}, "between 1 and 20"),
    ({"retry_delay_s": -1}, "between 0 and"),
    ({"abandon_threshold_s": 3.0}, "fixed at 2.0"),
    ({"name": "  "}, "blank"),
])
def test_invalid_settings(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"name": "x", "list_ids": ("l",)}
    with pytest.raises(InvalidCampaign, match=message):
        CampaignSettings(**(base | fields))  # type: ignore[arg-type]


def test_caller_id_is_normalised_to_e164_and_required_to_start() -> None:
    s = CampaignSettings(name="x", list_ids=("l",), caller_id="+1 (212) 555-0100",
                         abandon_message="Acme calling; call 212 555 0100 to opt out.")
    assert s.caller_id == "+12125550100"
    s.check_startable()
    with pytest.raises(InvalidCampaign, match="caller_id is required to start"):
        s.updated(caller_id=None).check_startable()


@pytest.mark.parametrize("mode", ["preview", "progressive", "power", "predictive"])
def test_every_mode_needs_an_abandon_message_to_start(mode: str) -> None:
    s = CampaignSettings(name="x", list_ids=("l",), dial_mode=mode, caller_id="+12125550100")
    with pytest.raises(InvalidCampaign, match="abandon_message is required to start"):
        s.check_startable()


def test_invalid_caller_id_message_never_echoes_the_number() -> None:
    with pytest.raises(InvalidCampaign) as err:
        CampaignSettings(name="x", list_ids=("l",), caller_id="+1 999 555 0100")
    assert "999" not in str(err.value)


def test_overdial_modes_with_their_messages_and_updates() -> None:
    s = CampaignSettings(name="x", list_ids=("l",), dial_mode="predictive",
                         abandon_message="This is Acme; call 212 555 0100 to opt out.",
                         amd_action="leave_message", amd_message="Please call Acme back.")
    power = s.updated(dial_mode="power", lines_per_agent=2.5)
    assert (power.dial_mode, power.lines_per_agent, power.abandon_message) == (
        "power", 2.5, s.abandon_message)
    with pytest.raises(InvalidCampaign, match="abandon_message"):
        s.updated(abandon_message=None, caller_id="+12125550100").check_startable()
    with pytest.raises(InvalidCampaign, match="unknown settings: colour"):
        s.updated(colour="red")
