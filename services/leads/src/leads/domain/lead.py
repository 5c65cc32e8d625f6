"""The lead and its status machine.

::

    new ──scheduler──▶ due ──compliance cleared──▶ dialing ──call ended──▶ …
     ▲                  │                             │
     │                  │ blocked, callable later     │ returned (clearance expired,
     │                  ▼                             │ campaign stopped)
     └──── retry ◀──────┴─────────────────────────────┘
             ▲ ▲
             │ └── call ended (no answer, busy, failed, machine, abandoned) and
             │     attempts < max_attempts: retry after the campaign's retry delay
             └──── disposition with category "callback": retry at callback_at

    due / dialing ── call ended "completed" ──▶ awaiting_disposition
    awaiting_disposition ── disposition (not a callback) ──▶ closed(reason = disposition)
    any in-flight status ──▶ closed: blocked and never callable (reason = first rule id),
        returned "dnc" (reason "dnc"), attempts exhausted (reason "max_attempts").

Statuses ``new`` and ``retry`` wait for the scheduler (``next_attempt_at`` set); ``due``
and ``dialing`` are *in flight* (count against the campaign's cap). ``closed`` is final.

An attempt is consumed only by a call that ended (``attempts`` += 1); a block by
compliance or a lead returned by the dialer retries the same attempt number. Events from
other services may arrive in any order across topics, so each transition checks that it
concerns the attempt in flight and otherwise leaves the status alone (a stale decision
never revives a lead; a call that ends after its disposition is still counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

DueReason = Literal["new", "retry", "callback"]


class LeadStatus(StrEnum):
    NEW = "new"
    DUE = "due"
    DIALING = "dialing"
    RETRY = "retry"
    AWAITING_DISPOSITION = "awaiting_disposition"
    CLOSED = "closed"


WAITING = frozenset({LeadStatus.NEW, LeadStatus.RETRY})
IN_FLIGHT = frozenset({LeadStatus.DUE, LeadStatus.DIALING})
_AWAITING_RESULT = IN_FLIGHT | {LeadStatus.AWAITING_DISPOSITION}


class InvalidTransition(Exception):
    """A command that the lead's status does not allow."""


@dataclass(frozen=True)
class RetryPolicy:
    """A campaign's rules for unanswered attempts."""

    max_attempts: int = 3
    retry_delay_s: int = 3600


@dataclass
class Lead:
    """The mutable state of one lead; each method applies one transition.

    Methods that can close the lead return the closing reason when they did (the caller
    emits ``lead.closed``), else ``None``.
    """

    status: LeadStatus
    attempts: int = 0
    next_attempt_at: datetime | None = None
    next_reason: DueReason = "new"
    campaign_id: str | None = None
    due_attempt: int | None = None
    last_call_id: str | None = None
    last_outcome: str | None = None
    last_disposition: str | None = None
    closed_reason: str | None = None

    # ---------------------------------------------------------------- scheduling
    def make_due(self, campaign_id: str) -> tuple[int, DueReason]:
        """The scheduler hands the lead to ``campaign_id``: returns (attempt, reason)."""
        if self.status not in WAITING:
            raise InvalidTransition(f"lead is {self.status}; expected new or retry")
        self.status = LeadStatus.DUE
        self.campaign_id = campaign_id
        self.due_attempt = self.attempts + 1
        self.next_attempt_at = None
        return self.due_attempt, self.next_reason

    # ---------------------------------------------------------------- compliance
    def screened(self, *, attempt: int, cleared: bool, earliest_callable_at: datetime | None,
                 rule_ids: list[str]) -> str | None:
        """Compliance's decision on the due attempt ``attempt``."""
        if self.status is not LeadStatus.DUE or attempt != self.due_attempt:
            return None  # stale: about an attempt that is no longer in flight
        if cleared:
            self.status = LeadStatus.DIALING
            return None
        if earliest_callable_at is None:
            return self._close(rule_ids[0] if rule_ids else "blocked")
        self._wait(earliest_callable_at, self.next_reason)
        return None

    # ---------------------------------------------------------------- dialer
    def returned(self, *, attempt: int, reason: str, now: datetime,
                 policy: RetryPolicy) -> str | None:
        """The dialer gave the due attempt back undialed: ``dnc`` closes; an agent's
        ``preview_skipped`` waits the retry delay; anything else is due again at once."""
        if self.status not in IN_FLIGHT or attempt != self.due_attempt:
            return None
        if reason == "dnc":
            return self._close("dnc")
        delay = policy.retry_delay_s if reason == "preview_skipped" else 0
        self._wait(now + timedelta(seconds=delay), self.next_reason)
        return None

    def call_ended(self, *, call_id: str, outcome: str, now: datetime,
                   policy: RetryPolicy) -> str | None:
        """A call to the lead ended. Counts the attempt; decides the next step if in flight.

        ``blocked`` (the call never left the dialer) consumes no attempt.
        """
        if call_id == self.last_call_id:
            return None  # the same call reported twice
        self.last_call_id = call_id
        in_flight = self.status in IN_FLIGHT
        if outcome == "blocked":
            if in_flight:
                self._wait(now + timedelta(seconds=policy.retry_delay_s), self.next_reason)
            return None
        self.attempts += 1
        self.last_outcome = outcome
        if not in_flight:
            return None  # its disposition was applied first (or the lead closed)
        if outcome == "completed":
            self.status = LeadStatus.AWAITING_DISPOSITION
            return None
        if self.attempts >= policy.max_attempts:
            return self._close("max_attempts")
        self._wait(now + timedelta(seconds=policy.retry_delay_s), "retry")
        return None

    # ---------------------------------------------------------------- agent
    def disposed(self, *, disposition: str, category: str, callback_at: datetime | None,
                 now: datetime, policy: RetryPolicy) -> str | None:
        """The agent's disposition: a callback retries (at ``callback_at``), else closes.

        A callback is the customer's request: it is honoured even past ``max_attempts``.
        """
        if self.status not in _AWAITING_RESULT:
            return None
        self.last_disposition = disposition
        if category == "callback":
            at = callback_at or now + timedelta(seconds=policy.retry_delay_s)
            self._wait(at, "callback")
            return None
        return self._close(disposition)

    # ---------------------------------------------------------------- helpers
    def _wait(self, at: datetime, reason: DueReason) -> None:
        self.status = LeadStatus.RETRY
        self.next_attempt_at = at
        self.next_reason = reason

    def _close(self, reason: str) -> str:
        self.status = LeadStatus.CLOSED
        self.closed_reason = reason
        self.next_attempt_at = None
        return reason
