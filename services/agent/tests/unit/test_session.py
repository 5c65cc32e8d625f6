"""The AgentSession state machine: every command in every state, call events, dispositions."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta

import pytest

from agent.domain.session import (
    ALLOWED_FROM,
    AgentSession,
    AgentState,
    Command,
    CurrentCall,
    Decision,
    TransitionRefused,
)
from agent.domain.vocabulary import DEFAULT_DISPOSITION_CATEGORIES, Vocabulary
from common.errors import Conflict, Unprocessable
from common.events.catalog import AgentStateChangedV1, DispositionSubmittedV1

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
CALL = CurrentCall("call-91", "lead-7f3a", "camp-renewals")
VOCAB = Vocabulary()
S = AgentState


def in_state(state: AgentState) -> AgentSession:
    """agent-3 brought to ``state`` through legal transitions (at T0)."""
    agent = AgentSession("agent-3")
    if state is S.LOGGED_OUT:
        return agent
    agent = agent.login(["camp-renewals"], ready=state is not S.PAUSED, session_id="sess-1",
                        now=T0).session
    if state in (S.READY, S.PAUSED):
        return agent
    agent = agent.connect_call(CALL, at=T0, session_id="unused").session
    return agent if state is S.ON_CALL else agent.hang_up(T0).session


def run(command: Command, agent: AgentSession) -> Decision:
    """``command`` with valid arguments, at T1."""
    match command:
        case Command.LOGIN:
            return agent.login(["camp-2"], ready=False, session_id="sess-2", now=T1)
        case Command.READY:
            return agent.make_ready(T1)
        case Command.PAUSE:
            return agent.pause("break", vocabulary=VOCAB, now=T1)
        case Command.LOGOUT:
            return agent.logout(T1)
        case Command.HANGUP:
            return agent.hang_up(T1)
        case Command.DISPOSITION:
            return agent.submit_disposition(call_id=CALL.call_id, disposition="sale",
                                            callback_at=None, vocabulary=VOCAB, now=T1)


# Written out independently of ALLOWED_FROM, so that a change to the table breaks a test.
LEGAL = {
    (Command.LOGIN, S.LOGGED_OUT): S.PAUSED,
    (Command.READY, S.PAUSED): S.READY,
    (Command.PAUSE, S.READY): S.PAUSED,
    (Command.PAUSE, S.PAUSED): S.PAUSED,
    (Command.LOGOUT, S.READY): S.LOGGED_OUT,
    (Command.LOGOUT, S.PAUSED): S.LOGGED_OUT,
    (Command.HANGUP, S.ON_CALL): S.WRAP_UP,
    (Command.DISPOSITION, S.WRAP_UP): S.READY,
}
NO_OP = {(Command.HANGUP, S.WRAP_UP)}  # the called party hung up first
ALLOWED_IN = {S.LOGGED_OUT: ["login"], S.READY: ["pause", "logout"],
              S.PAUSED: ["ready", "pause", "logout"], S.ON_CALL: ["hangup"],
              S.WRAP_UP: ["disposition"]}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("command", list(Command))
def test_every_command_in_every_state(command: Command, state: AgentState) -> None:
    agent = in_state(state)
    if (command, state) in LEGAL:
        decision = run(command, agent)
        assert decision.session.state is LEGAL[command, state]
        changed = decision.events[-1]
        assert isinstance(changed, AgentStateChangedV1)
        assert (changed.agent_id, changed.state, changed.at) == (
            "agent-3", LEGAL[command, state].value, T1)
        assert decision.session.since == T1
        assert decision.session.version == agent.version + len(decision.events)
    elif (command, state) in NO_OP:
        assert run(command, agent) == Decision(agent)
    else:
        with pytest.raises(TransitionRefused) as refused:
            run(command, agent)
        assert refused.value.status_code == 409
        assert refused.value.details["state"] == state.value
        assert refused.value.details["allowed"] == ALLOWED_IN[state]
        assert f"cannot {command.value} while {state.value}" in refused.value.message


def test_the_table_in_code_is_the_tested_one() -> None:
    assert {(c, s) for c, states in ALLOWED_FROM.items() for s in states} == set(LEGAL)


def test_login_opens_a_session_paused_or_ready() -> None:
    paused = AgentSession("agent-3").login(["c1", "c2", "c1"], ready=False, session_id="sess-9",
                                           now=T0)
    (event,) = paused.events
    assert event == AgentStateChangedV1(agent_id="agent-3", session_id="sess-9", state="paused",
                                        reason="logged_in", campaign_ids=["c1", "c2"], at=T0)
    assert paused.session.campaign_ids == ("c1", "c2")
    ready = AgentSession("agent-3").login(["c1"], ready=True, session_id="sess-9", now=T0)
    assert (ready.session.state, ready.session.reason) == (S.READY, None)


def test_login_needs_a_campaign() -> None:
    with pytest.raises(Unprocessable, match="at least one campaign"):
        AgentSession("agent-3").login([], ready=True, session_id="s", now=T0)


@pytest.mark.parametrize("state", [S.ON_CALL, S.WRAP_UP])
def test_logout_during_a_call_says_finish_the_call_first(state: AgentState) -> None:
    with pytest.raises(TransitionRefused, match="finish the call first"):
        in_state(state).logout(T1)


def test_ready_twice_and_login_twice_say_why() -> None:
    with pytest.raises(TransitionRefused, match="already ready"):
        in_state(S.READY).make_ready(T1)
    with pytest.raises(TransitionRefused, match="already logged in"):
        in_state(S.PAUSED).login(["c"], ready=True, session_id="s", now=T1)


def test_pause_reasons_come_from_the_vocabulary() -> None:
    agent = in_state(S.READY)
    with pytest.raises(Unprocessable, match="unknown pause reason 'nap'; one of: break, lunch"):
        agent.pause("nap", vocabulary=VOCAB, now=T1)
    custom = Vocabulary(pause_reasons=("nap",))
    assert agent.pause("nap", vocabulary=custom, now=T1).session.reason == "nap"


def test_pause_while_paused_changes_the_reason_but_not_to_the_same_one() -> None:
    lunch = in_state(S.READY).pause("lunch", vocabulary=VOCAB, now=T1).session
    assert lunch.pause("break", vocabulary=VOCAB, now=T1).session.reason == "break"
    with pytest.raises(TransitionRefused, match="already paused for 'lunch'"):
        lunch.pause("lunch", vocabulary=VOCAB, now=T1)


def test_hang_up_moves_to_wrap_up_keeping_the_call() -> None:
    decision = in_state(S.ON_CALL).hang_up(T1)
    (event,) = decision.events
    assert isinstance(event, AgentStateChangedV1)
    assert (event.state, event.call_id, event.session_id) == ("wrap_up", "call-91", "sess-1")
    assert decision.session.call == CALL


# ---------------------------------------------------------------------------- dispositions
def dispose(agent: AgentSession, disposition: str = "sale", **kw: typing.Any) -> Decision:
    args: dict[str, typing.Any] = {"call_id": CALL.call_id, "callback_at": None,
                                   "vocabulary": VOCAB, "now": T1} | kw
    return agent.submit_disposition(disposition=disposition, **args)


@pytest.mark.parametrize(("disposition", "category"), [
    ("sale", "success"), ("appointment", "success"), ("promise_to_pay", "success"),
    ("not_interested", "contact"), ("wrong_party", "other"), ("no_contact", "other"),
    ("do_not_call", "dnc"), ("other", "other"),
])
def test_disposition_records_its_category_and_returns_to_ready(disposition: str,
                                                               category: str) -> None:
    agent = in_state(S.WRAP_UP)
    decision = dispose(agent, disposition)
    submitted, changed = decision.events
    assert submitted == DispositionSubmittedV1(
        agent_id="agent-3", call_id="call-91", lead_id="lead-7f3a", campaign_id="camp-renewals",
        disposition=disposition, category=category, callback_at=None, at=T1)
    assert isinstance(changed, AgentStateChangedV1)
    assert (changed.state, changed.call_id) == ("ready", None)
    assert (decision.session.state, decision.session.call) == (S.READY, None)
    assert decision.session.version == agent.version + 2


def test_callback_needs_a_future_callback_at() -> None:
    agent = in_state(S.WRAP_UP)
    with pytest.raises(Unprocessable) as missing:
        dispose(agent, "callback")
    assert missing.value.details[0]["loc"] == ["body", "callback_at"]
    assert "callback_at is required" in missing.value.message
    with pytest.raises(Unprocessable, match="must be in the future"):
        dispose(agent, "callback", callback_at=T1)
    with pytest.raises(Unprocessable, match="only allowed for callback"):
        dispose(agent, "sale", callback_at=T1 + timedelta(days=1))
    later = T1 + timedelta(days=1)
    submitted = dispose(agent, "callback", callback_at=later).events[0]
    assert isinstance(submitted, DispositionSubmittedV1)
    assert (submitted.category, submitted.callback_at) == ("callback", later)


def test_unknown_disposition_lists_the_known_ones() -> None:
    with pytest.raises(Unprocessable, match="unknown disposition 'maybe'; one of: sale,"):
        dispose(in_state(S.WRAP_UP), "maybe")


def test_disposition_for_another_call_is_a_conflict() -> None:
    with pytest.raises(Conflict, match=r"'call-x' is not the current call.*wrapping up 'call-91'"):
        dispose(in_state(S.WRAP_UP), call_id="call-x")


def test_disposition_on_call_says_hang_up_first() -> None:
    with pytest.raises(TransitionRefused, match="hang up, then submit"):
        dispose(in_state(S.ON_CALL))


def test_disposition_then_pause() -> None:
    after_call = dispose(in_state(S.WRAP_UP), then="pause").session
    assert (after_call.state, after_call.reason) == (S.PAUSED, "after_call")
    lunch = dispose(in_state(S.WRAP_UP), then="pause", pause_reason="lunch").session
    assert (lunch.state, lunch.reason) == (S.PAUSED, "lunch")
    with pytest.raises(Unprocessable, match="unknown pause reason"):
        dispose(in_state(S.WRAP_UP), then="pause", pause_reason="nap")
    with pytest.raises(Unprocessable, match='goes with then: "pause" only'):
        dispose(in_state(S.WRAP_UP), pause_reason="lunch")


def test_categories_are_the_event_contract() -> None:
    from agent.domain.vocabulary import DispositionCategory

    contract = DispositionSubmittedV1.model_fields["category"].annotation
    assert set(typing.get_args(DispositionCategory)) == set(typing.get_args(contract))
    assert set(DEFAULT_DISPOSITION_CATEGORIES.values()) <= set(typing.get_args(contract))


# ---------------------------------------------------------------------------- call events
@pytest.mark.parametrize("state", list(S))
def test_a_connected_call_puts_the_agent_on_call_from_any_state(state: AgentState) -> None:
    agent = in_state(state)
    other = CurrentCall("call-92", "lead-80b1", "camp-other")
    decision = agent.connect_call(other, at=T1, session_id="sess-new")
    (event,) = decision.events
    assert isinstance(event, AgentStateChangedV1)
    assert (event.state, event.call_id) == ("on_call", "call-92")
    assert decision.session.call == other
    assert agent.expects_call is (state is S.READY)
    if state is S.LOGGED_OUT:  # a session is opened on the call's campaign
        assert (event.session_id, event.campaign_ids) == ("sess-new", ["camp-other"])
    else:
        assert (event.session_id, event.campaign_ids) == ("sess-1", ["camp-renewals"])


@pytest.mark.parametrize("state", [S.ON_CALL, S.WRAP_UP])
def test_the_same_call_connected_again_changes_nothing(state: AgentState) -> None:
    agent = in_state(state)
    assert agent.connect_call(CALL, at=T1, session_id="s") == Decision(agent)


def test_call_end_wraps_up_only_the_current_call_on_call() -> None:
    on_call = in_state(S.ON_CALL)
    decision = on_call.end_call("call-91", at=T1)
    assert decision.session.state is S.WRAP_UP
    assert decision.events[0].model_dump()["call_id"] == "call-91"
    assert on_call.end_call("call-other", at=T1) == Decision(on_call)
    for state in (S.LOGGED_OUT, S.READY, S.PAUSED, S.WRAP_UP):
        agent = in_state(state)
        assert agent.end_call("call-91", at=T1) == Decision(agent)


def test_changes_never_go_back_in_time() -> None:
    paused = in_state(S.READY).pause("break", vocabulary=VOCAB, now=T1).session
    late = paused.connect_call(CALL, at=T0, session_id="s")  # bridged before the pause landed
    assert late.session.since == T1
    assert late.events[0].model_dump()["at"] == T1
