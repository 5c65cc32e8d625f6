"""The AgentSession aggregate: one agent's state machine, one event stream per agent.

States: ``logged_out``, ``ready``, ``paused`` (with a reason), ``on_call`` and ``wrap_up``
(with the call concerned). Every change emits ``AgentStateChangedV1``; a disposition also
emits ``DispositionSubmittedV1``.

=============  ======================  =====================================================
command        allowed from            to
=============  ======================  =====================================================
login          logged_out              paused("logged_in"), or ready with ``ready: true``
ready          paused                  ready
pause          ready, paused           paused(reason); paused -> paused needs a new reason
logout         ready, paused           logged_out
hangup         on_call                 wrap_up(call); in wrap_up a no-op (the called party
                                       hung up first)
disposition    wrap_up (its call)      ready, or paused(reason) with ``then: "pause"``
=============  ======================  =====================================================

Events of the ``calls`` topic, not commands, put an agent on a call:

- ``call.connected`` -> on_call(call) from ANY state: the call is bridged, the state must
  say so (``expected_call`` tells the caller whether the agent was waiting for one). The
  same call again is a no-op. From logged_out it opens a session on the call's campaign.
- ``call.ended`` of the agent's current call while on_call -> wrap_up(call); otherwise a
  no-op (the agent hung up first, or it is another call).

Everything else is refused with :class:`TransitionRefused` (HTTP 409), which says the
current state and the commands allowed in it.

Time: every change is stamped with the instant given by the caller, moved forward to the
current state's ``since`` if it is earlier, so that state intervals are never negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Literal

from agent.domain.vocabulary import AFTER_CALL_REASON, LOGGED_IN_REASON, Vocabulary
from common.errors import Conflict, Unprocessable
from common.events.catalog import AgentStateChangedV1, DispositionSubmittedV1, EventPayload


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    PAUSED = "paused"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


class Command(StrEnum):
    """What an agent can ask for through the API."""

    LOGIN = "login"
    READY = "ready"
    PAUSE = "pause"
    LOGOUT = "logout"
    HANGUP = "hangup"
    DISPOSITION = "disposition"


ALLOWED_FROM: dict[Command, frozenset[AgentState]] = {
    Command.LOGIN: frozenset({AgentState.LOGGED_OUT}),
    Command.READY: frozenset({AgentState.PAUSED}),
    Command.PAUSE: frozenset({AgentState.READY, AgentState.PAUSED}),
    Command.LOGOUT: frozenset({AgentState.READY, AgentState.PAUSED}),
    Command.HANGUP: frozenset({AgentState.ON_CALL}),
    Command.DISPOSITION: frozenset({AgentState.WRAP_UP}),
}
"""The states each command is legal in (the table in the module docstring)."""

AfterDisposition = Literal["ready", "pause"]


def allowed_commands(state: AgentState) -> list[str]:
    """The commands legal in ``state``, in table order."""
    return [c.value for c, states in ALLOWED_FROM.items() if state in states]


class TransitionRefused(Conflict):
    """The command is not legal in the agent's current state (409)."""


@dataclass(frozen=True)
class CurrentCall:
    """The call an agent is on or wrapping up: the lead context shown to the agent."""

    call_id: str
    lead_id: str
    campaign_id: str


@dataclass(frozen=True)
class Decision:
    """The outcome of a command: the new state and the events that record it (maybe none)."""

    session: AgentSession
    events: tuple[EventPayload, ...] = ()


@dataclass(frozen=True)
class AgentSession:
    """An agent's current state, as of stream ``version`` (0: the stream does not exist).

    ``session_id`` names the current login (kept after logout: the session just closed);
    ``campaign_ids`` are the campaigns of that login; ``since`` is when the state began.
    """

    agent_id: str
    state: AgentState = AgentState.LOGGED_OUT
    version: int = 0
    session_id: str | None = None
    reason: str | None = None
    since: datetime | None = None
    campaign_ids: tuple[str, ...] = ()
    call: CurrentCall | None = None

    @property
    def stream_id(self) -> str:
        """The event-store stream of this agent (tenant-scoped by the store)."""
        return f"agent-{self.agent_id}"

    # ------------------------------------------------------------------ commands
    def login(self, campaign_ids: Sequence[str], *, ready: bool, session_id: str,
              now: datetime) -> Decision:
        """Open a session on ``campaign_ids``: paused("logged_in"), or ready if asked."""
        self._require(Command.LOGIN)
        campaigns = tuple(dict.fromkeys(campaign_ids))
        if not campaigns:
            raise _invalid("campaign_ids", "campaign_ids must name at least one campaign")
        opened = replace(self, session_id=session_id, campaign_ids=campaigns)
        if ready:
            return self._decided(*opened._change(AgentState.READY, now))
        return self._decided(*opened._change(AgentState.PAUSED, now, reason=LOGGED_IN_REASON))

    def make_ready(self, now: datetime) -> Decision:
        """Available for calls again after a pause."""
        self._require(Command.READY)
        return self._decided(*self._change(AgentState.READY, now))

    def pause(self, reason: str, *, vocabulary: Vocabulary, now: datetime) -> Decision:
        """Stop taking calls for one of the configured pause reasons."""
        if reason not in vocabulary.pause_reasons:
            raise _invalid("reason", f"unknown pause reason {reason!r}; one of: "
                                     f"{', '.join(vocabulary.pause_reasons)}")
        self._require(Command.PAUSE)
        if self.state is AgentState.PAUSED and self.reason == reason:
            raise self._refusal(Command.PAUSE, f"already paused for {reason!r}")
        return self._decided(*self._change(AgentState.PAUSED, now, reason=reason))

    def logout(self, now: datetime) -> Decision:
        """Close the session (never in the middle of a call)."""
        self._require(Command.LOGOUT)
        return self._decided(*self._change(AgentState.LOGGED_OUT, now))

    def hang_up(self, now: datetime) -> Decision:
        """The agent ends the call: wrap-up. A no-op if the called party hung up first."""
        if self.state is AgentState.WRAP_UP:
            return Decision(self)
        self._require(Command.HANGUP)
        return self._decided(*self._change(AgentState.WRAP_UP, now, call=self.call))

    def submit_disposition(
        self,
        *,
        call_id: str,
        disposition: str,
        callback_at: datetime | None,
        vocabulary: Vocabulary,
        now: datetime,
        then: AfterDisposition = "ready",
        pause_reason: str | None = None,
    ) -> Decision:
        """Record the result of the call being wrapped up, then ready (or paused).

        ``callback_at`` (UTC instant, in the future) is required iff the disposition's
        category is ``callback``. ``pause_reason`` goes with ``then="pause"`` only
        (default ``after_call``).
        """
        category = vocabulary.disposition_categories.get(disposition)
        if category is None:
            raise _invalid("disposition", f"unknown disposition {disposition!r}; one of: "
                                          f"{', '.join(vocabulary.disposition_categories)}")
        if category == "callback" and callback_at is None:
            raise _invalid("callback_at",
                           f"callback_at is required for the callback disposition {disposition!r}")
        if category != "callback" and callback_at is not None:
            raise _invalid("callback_at", f"callback_at is only allowed for callback "
                                          f"dispositions, not {disposition!r} ({category})")
        if callback_at is not None and callback_at <= now:
            raise _invalid("callback_at", f"callback_at must be in the future "
                                          f"(it is {callback_at.isoformat()}, now is {now.isoformat()})")
        if pause_reason is not None and then != "pause":
            raise _invalid("pause_reason", 'pause_reason goes with then: "pause" only')
        if pause_reason is not None and pause_reason not in vocabulary.pause_reasons:
            raise _invalid("pause_reason", f"unknown pause reason {pause_reason!r}; one of: "
                                           f"{', '.join(vocabulary.pause_reasons)}")
        self._require(Command.DISPOSITION)
        call = self.call
        assert call is not None  # wrap_up always has its call
        if call_id != call.call_id:
            raise Conflict(
                f"call {call_id!r} is not the current call of agent {self.agent_id!r} "
                f"(wrapping up {call.call_id!r})",
                details={"state": self.state.value, "call_id": call.call_id},
            )
        at = self._stamp(now)
        submitted = DispositionSubmittedV1(
            agent_id=self.agent_id, call_id=call.call_id, lead_id=call.lead_id,
            campaign_id=call.campaign_id, disposition=disposition, category=category,
            callback_at=callback_at, at=at,
        )
        if then == "pause":
            after, changed = self._change(AgentState.PAUSED, at,
                                          reason=pause_reason or AFTER_CALL_REASON)
        else:
            after, changed = self._change(AgentState.READY, at)
        return self._decided(after, submitted, changed)

    # ------------------------------------------------------------------ call events
    @property
    def expects_call(self) -> bool:
        """True when the dialer may bridge a call to this agent (ready)."""
        return self.state is AgentState.READY

    def connect_call(self, call: CurrentCall, *, at: datetime, session_id: str) -> Decision:
        """A call was bridged to the agent: on_call, whatever the state (see module doc).

        ``session_id`` is used only if the agent was logged out (a session is opened).
        """
        if self._is_current(call.call_id):  # on it or wrapping it up already
            return Decision(self)
        on = self
        if self.state is AgentState.LOGGED_OUT:
            on = replace(self, session_id=session_id, campaign_ids=(call.campaign_id,))
        return self._decided(*on._change(AgentState.ON_CALL, at, call=call))

    def end_call(self, call_id: str, *, at: datetime) -> Decision:
        """The call ended (the called party hung up): wrap-up if it is the agent's call."""
        if self.state is AgentState.ON_CALL and self._is_current(call_id):
            return self._decided(*self._change(AgentState.WRAP_UP, at, call=self.call))
        return Decision(self)

    # ------------------------------------------------------------------ internals
    def _is_current(self, call_id: str) -> bool:
        """True if ``call_id`` is the call the agent is on or wrapping up."""
        return self.call is not None and self.call.call_id == call_id

    def _stamp(self, at: datetime) -> datetime:
        """``at``, or the current state's start if later: intervals are never negative."""
        return max(at, self.since) if self.since is not None else at

    def _decided(self, after: AgentSession, *events: EventPayload) -> Decision:
        """``after`` at the stream version following ``events``."""
        return Decision(replace(after, version=self.version + len(events)), events)

    def _change(self, state: AgentState, at: datetime, *, reason: str | None = None,
                call: CurrentCall | None = None) -> tuple[AgentSession, AgentStateChangedV1]:
        """The session in ``state`` since ``at`` (see :meth:`_stamp`), and its event."""
        at = self._stamp(at)
        assert self.session_id is not None  # every change happens within a session
        event = AgentStateChangedV1(
            agent_id=self.agent_id, session_id=self.session_id, state=state.value,
            reason=reason, campaign_ids=list(self.campaign_ids),
            call_id=call.call_id if call else None, at=at,
        )
        return replace(self, state=state, reason=reason, since=at, call=call), event

    def _require(self, command: Command) -> None:
        if self.state not in ALLOWED_FROM[command]:
            raise self._refusal(command, self._hint(command))

    def _hint(self, command: Command) -> str:
        if self.state is AgentState.ON_CALL:
            return "finish the call first (hang up, then submit the disposition)"
        if self.state is AgentState.WRAP_UP:
            assert self.call is not None
            return f"finish the call first (submit the disposition of {self.call.call_id!r})"
        if self.state is AgentState.LOGGED_OUT:
            return "log in first"
        if command is Command.LOGIN:
            return "already logged in"
        if command is Command.READY:
            return "already ready"
        return "no call in progress"

    def _refusal(self, command: Command, hint: str) -> TransitionRefused:
        allowed = allowed_commands(self.state)
        return TransitionRefused(
            f"cannot {command.value} while {self.state.value}: {hint}; "
            f"allowed now: {', '.join(allowed) or 'none'}",
            details={"state": self.state.value, "reason": self.reason,
                     "call_id": self.call.call_id if self.call else None, "allowed": allowed},
        )


def _invalid(field: str, message: str) -> Unprocessable:
    """A request field the domain rejects, in the shape of request validation errors."""
    return Unprocessable(message, details=[{"loc": ["body", field], "msg": message,
                                            "type": "value_error"}])
