"""The lead status machine: scheduling, screening, returns, call outcomes, dispositions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leads.domain.lead import InvalidTransition, Lead, LeadStatus, RetryPolicy

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=2, retry_delay_s=600)


def due_lead(**kw: object) -> Lead:
    lead = Lead(status=LeadStatus.NEW, next_attempt_at=NOW, **kw)  # type: ignore[arg-type]
    lead.make_due("camp-1")
    return lead


def dialing_lead() -> Lead:
    lead = due_lead()
    lead.screened(attempt=1, cleared=True, earliest_callable_at=None, rule_ids=[])
    return lead


def test_make_due_hands_the_next_attempt_to_the_campaign() -> None:
    lead = Lead(status=LeadStatus.RETRY, attempts=1, next_attempt_at=NOW, next_reason="retry")
    assert lead.make_due("camp-1") == (2, "retry")
    assert (lead.status, lead.campaign_id, lead.due_attempt, lead.next_attempt_at) == (
        LeadStatus.DUE, "camp-1", 2, None)
    with pytest.raises(InvalidTransition, match="lead is due; expected new or retry"):
        lead.make_due("camp-1")


def test_cleared_starts_dialing() -> None:
    assert dialing_lead().status is LeadStatus.DIALING


def test_blocked_for_now_retries_the_same_attempt_when_callable() -> None:
    lead = due_lead()
    later = NOW + timedelta(hours=3)
    assert lead.screened(attempt=1, cleared=False, earliest_callable_at=later,
                         rule_ids=["us.tcpa.hours"]) is None
    assert (lead.status, lead.next_attempt_at, lead.attempts, lead.next_reason) == (
        LeadStatus.RETRY, later, 0, "new")
    assert lead.make_due("camp-1") == (1, "new")


def test_blocked_for_good_closes_with_the_first_rule() -> None:
    lead = due_lead()
    assert lead.screened(attempt=1, cleared=False, earliest_callable_at=None,
                         rule_ids=["dnc.tenant", "us.tcpa.hours"]) == "dnc.tenant"
    assert (lead.status, lead.closed_reason, lead.next_attempt_at) == (
        LeadStatus.CLOSED, "dnc.tenant", None)


def test_a_decision_about_another_attempt_is_ignored() -> None:
    lead = due_lead()
    assert lead.screened(attempt=2, cleared=True, earliest_callable_at=None, rule_ids=[]) is None
    assert lead.status is LeadStatus.DUE
    lead.call_ended(call_id="c1", outcome="no_answer", now=NOW, policy=POLICY)
    lead.screened(attempt=1, cleared=True, earliest_callable_at=None, rule_ids=[])
    assert lead.status is LeadStatus.RETRY  # a late clearance does not revive it


@pytest.mark.parametrize("status", [LeadStatus.DUE, LeadStatus.DIALING])
def test_returned_dnc_closes_and_other_returns_retry_now(status: LeadStatus) -> None:
    lead = dialing_lead() if status is LeadStatus.DIALING else due_lead()
    assert lead.returned(attempt=1, reason="dnc", now=NOW, policy=POLICY) == "dnc"
    lead = dialing_lead() if status is LeadStatus.DIALING else due_lead()
    assert lead.returned(attempt=1, reason="campaign_stopped", now=NOW, policy=POLICY) is None
    assert (lead.status, lead.next_attempt_at, lead.attempts) == (LeadStatus.RETRY, NOW, 0)


def test_a_lead_skipped_in_preview_waits_the_retry_delay_without_using_an_attempt() -> None:
    lead = due_lead()
    assert lead.returned(attempt=1, reason="preview_skipped", now=NOW, policy=POLICY) is None
    assert (lead.status, lead.next_attempt_at, lead.attempts) == (
        LeadStatus.RETRY, NOW + timedelta(seconds=600), 0)


@pytest.mark.parametrize("outcome", ["no_answer", "busy", "failed", "machine", "abandoned"])
def test_an_unanswered_call_retries_after_the_delay(outcome: str) -> None:
    lead = dialing_lead()
    assert lead.call_ended(call_id="c1", outcome=outcome, now=NOW, policy=POLICY) is None
    assert (lead.status, lead.attempts, lead.last_outcome, lead.next_reason) == (
        LeadStatus.RETRY, 1, outcome, "retry")
    assert lead.next_attempt_at == NOW + timedelta(seconds=600)


def test_the_last_allowed_attempt_closes_the_lead() -> None:
    lead = dialing_lead()
    lead.call_ended(call_id="c1", outcome="busy", now=NOW, policy=POLICY)
    lead.make_due("camp-1")
    assert lead.call_ended(call_id="c2", outcome="no_answer", now=NOW,
                           policy=POLICY) == "max_attempts"
    assert (lead.status, lead.attempts) == (LeadStatus.CLOSED, 2)


def test_the_same_call_ending_twice_counts_once() -> None:
    lead = dialing_lead()
    lead.call_ended(call_id="c1", outcome="busy", now=NOW, policy=POLICY)
    lead.call_ended(call_id="c1", outcome="busy", now=NOW, policy=POLICY)
    assert lead.attempts == 1


def test_a_blocked_call_consumes_no_attempt() -> None:
    lead = dialing_lead()
    lead.call_ended(call_id="c1", outcome="blocked", now=NOW, policy=POLICY)
    assert (lead.status, lead.attempts, lead.next_reason) == (LeadStatus.RETRY, 0, "new")


def test_a_completed_call_waits_for_the_disposition_which_closes() -> None:
    lead = dialing_lead()
    lead.call_ended(call_id="c1", outcome="completed", now=NOW, policy=POLICY)
    assert (lead.status, lead.attempts) == (LeadStatus.AWAITING_DISPOSITION, 1)
    assert lead.disposed(disposition="sale", category="success", callback_at=None, now=NOW,
                         policy=POLICY) == "sale"
    assert (lead.status, lead.closed_reason, lead.last_disposition) == (
        LeadStatus.CLOSED, "sale", "sale")


def test_a_callback_retries_at_the_requested_time_or_after_the_delay() -> None:
    at = NOW + timedelta(days=1)
    lead = dialing_lead()
    lead.call_ended(call_id="c1", outcome="completed", now=NOW, policy=POLICY)
    lead.disposed(disposition="callback", category="callback", callback_at=at, now=NOW,
                  policy=POLICY)
    assert (lead.status, lead.next_attempt_at, lead.next_reason) == (
        LeadStatus.RETRY, at, "callback")
    assert lead.make_due("camp-1") == (2, "callback")
    lead = dialing_lead()
    lead.disposed(disposition="callback", category="callback", callback_at=None, now=NOW,
                  policy=POLICY)
    assert lead.next_attempt_at == NOW + timedelta(seconds=600)


def test_a_disposition_before_its_call_ended_still_counts_the_attempt() -> None:
    lead = dialing_lead()
    assert lead.disposed(disposition="not_interested", category="contact", callback_at=None,
                         now=NOW, policy=POLICY) == "not_interested"
    assert lead.call_ended(call_id="c1", outcome="completed", now=NOW, policy=POLICY) is None
    assert (lead.status, lead.attempts, lead.closed_reason) == (
        LeadStatus.CLOSED, 1, "not_interested")


def test_events_for_a_closed_lead_change_nothing_but_the_count() -> None:
    lead = due_lead()
    lead.returned(attempt=1, reason="dnc", now=NOW, policy=POLICY)
    assert lead.disposed(disposition="sale", category="success", callback_at=None, now=NOW,
                         policy=POLICY) is None
    assert lead.returned(attempt=1, reason="campaign_stopped", now=NOW, policy=POLICY) is None
    assert (lead.status, lead.closed_reason) == (LeadStatus.CLOSED, "dnc")
