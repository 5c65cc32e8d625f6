"""Lead transitions from real events: compliance decisions, returned leads, call outcomes
and dispositions, with lead.closed published when a lead closes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from leads_kit import (
    ACME,
    GLOBEX,
    import_json,
    lead_state,
    leads_service,
    new_list,
    publish,
    published,
    wait_consumed,
    wait_lead,
    wait_published,
)

from common.events.catalog import (
    CallEndedV1,
    CampaignStateChangedV1,
    ComplianceDecidedV1,
    DecisionReason,
    DispositionSubmittedV1,
    LeadClosedV1,
    LeadDueV1,
    LeadReturnedV1,
)

pytestmark = pytest.mark.kafka
X_PHONES = [f"+1312555014{i}" for i in range(1, 8)]  # L1..L7, campaign c1
Y_PHONE = "+12125550100"  # L8, campaign c2


def decided(due: LeadDueV1, outcome: str, earliest: datetime | None = None,
            rule: str | None = None) -> ComplianceDecidedV1:
    return ComplianceDecidedV1(
        decision_id=f"d-{due.lead_id}-{due.attempt}", lead_id=due.lead_id, list_id=due.list_id,
        campaign_id=due.campaign_id, attempt=due.attempt, phone_e164=due.phone_e164,
        outcome=outcome, earliest_callable_at=earliest, policy_version="test",  # type: ignore[arg-type]
        reasons=[DecisionReason(rule_id=rule, message="blocked")] if rule else [])


def ended(due: LeadDueV1, call_id: str, outcome: str) -> CallEndedV1:
    return CallEndedV1(call_id=call_id, campaign_id=due.campaign_id, lead_id=due.lead_id,
                       at=datetime.now(UTC), outcome=outcome, ring_ms=3000)  # type: ignore[arg-type]


def disposed(due: LeadDueV1, call_id: str, disposition: str, category: str,
             callback_at: datetime | None = None) -> DispositionSubmittedV1:
    return DispositionSubmittedV1(
        agent_id="agent-1", call_id=call_id, lead_id=due.lead_id, campaign_id=due.campaign_id,
        disposition=disposition, category=category, callback_at=callback_at,  # type: ignore[arg-type]
        at=datetime.now(UTC))


def returned(due: LeadDueV1, reason: str) -> LeadReturnedV1:
    return LeadReturnedV1(lead_id=due.lead_id, list_id=due.list_id, campaign_id=due.campaign_id,
                          attempt=due.attempt, reason=reason, at=datetime.now(UTC))  # type: ignore[arg-type]


def at(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


async def test_compliance_call_and_disposition_events_move_leads(kafka_broker,
                                                                 database_url) -> None:
    kafka = kafka_broker.bootstrap_servers
    async with leads_service(kafka, database_url) as svc:
        c = svc.client
        list_x, list_y = await new_list(c, name="X"), await new_list(c, name="Y")
        await import_json(c, list_x, [{"phone": p} for p in X_PHONES])
        await import_json(c, list_y, [{"phone": Y_PHONE}])
        await publish(svc, kafka, ACME,
                      CampaignStateChangedV1(campaign_id="c1", state="running", list_ids=[list_x],
                                             max_attempts=3, retry_delay_s=600),
                      CampaignStateChangedV1(campaign_id="c2", state="running", list_ids=[list_y],
                                             max_attempts=2, retry_delay_s=0))
        dues = {e.data["phone_e164"]: LeadDueV1.model_validate(e.data)
                for e in await wait_published(svc, kafka, LeadDueV1.event_type, 8)}
        l1, l2, l3, l4, l5, l6, l7 = (dues[p] for p in X_PHONES)
        l8 = dues[Y_PHONE]
        later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)

        # compliance and the dialer
        await publish(svc, kafka, ACME,
                      decided(l1, "blocked", rule="dnc.tenant"),
                      decided(l2, "blocked", earliest=later, rule="us.tcpa.hours"),
                      decided(l3, "cleared"), decided(l4, "cleared"), decided(l5, "cleared"),
                      decided(l8, "cleared"), returned(l6, "dnc"),
                      returned(l7, "clearance_expired"))
        await wait_lead(c, l1.lead_id, status="closed", closed_reason="dnc.tenant")
        s2 = await wait_lead(c, l2.lead_id, status="retry", attempts=0)
        assert at(s2["next_attempt_at"]) == later
        await wait_lead(c, l3.lead_id, status="dialing")
        await wait_lead(c, l6.lead_id, status="closed", closed_reason="dnc")
        # returned for an expired clearance: due again at once, same attempt
        redue = await wait_published(svc, kafka, LeadDueV1.event_type, 9)
        l7_dues = [e.data for e in redue if e.data["lead_id"] == l7.lead_id]
        assert [(d["attempt"], d["reason"]) for d in l7_dues] == [(1, "new"), (1, "new")]

        # calls end
        before = datetime.now(UTC)
        await publish(svc, kafka, ACME, ended(l3, "call-3", "no_answer"),
                      ended(l4, "call-4", "completed"), ended(l5, "call-5", "completed"),
                      ended(l8, "call-8a", "busy"))
        s3 = await wait_lead(c, l3.lead_id, status="retry", attempts=1, last_outcome="no_answer")
        assert before + timedelta(seconds=600) <= at(s3["next_attempt_at"]) <= (
            datetime.now(UTC) + timedelta(seconds=600))
        await wait_lead(c, l4.lead_id, status="awaiting_disposition", attempts=1)
        await wait_lead(c, l5.lead_id, status="awaiting_disposition", attempts=1)

        # dispositions
        callback = later + timedelta(days=1)
        await publish(svc, kafka, ACME, disposed(l4, "call-4", "callback", "callback", callback),
                      disposed(l5, "call-5", "sale", "success"))
        s4 = await wait_lead(c, l4.lead_id, status="retry", last_disposition="callback")
        assert (at(s4["next_attempt_at"]), s4["attempts"]) == (callback, 1)
        await wait_lead(c, l5.lead_id, status="closed", closed_reason="sale")

        # L8 (no retry delay, two attempts): retried at once, then closed by the second call
        second = [LeadDueV1.model_validate(e.data) for e in await wait_published(
            svc, kafka, LeadDueV1.event_type, 10) if e.data["lead_id"] == l8.lead_id][-1]
        assert (second.attempt, second.reason) == (2, "retry")
        await publish(svc, kafka, ACME, decided(second, "cleared"))
        await wait_lead(c, l8.lead_id, status="dialing")
        await publish(svc, kafka, ACME, ended(second, "call-8b", "failed"))
        await wait_lead(c, l8.lead_id, status="closed", closed_reason="max_attempts", attempts=2)

        # stale and foreign events change nothing
        stale = await publish(svc, kafka, ACME, decided(l1, "cleared"),
                              disposed(l6, "call-6", "sale", "success"),
                              returned(l2, "campaign_stopped"))
        stale += await publish(svc, kafka, GLOBEX, ended(l3, "call-x", "no_answer"))
        await wait_consumed(svc, stale)
        assert (await lead_state(c, l1.lead_id))["status"] == "closed"
        assert (await lead_state(c, l2.lead_id))["next_attempt_at"] == s2["next_attempt_at"]
        assert (await lead_state(c, l3.lead_id))["attempts"] == 1
        assert (await lead_state(c, l6.lead_id))["closed_reason"] == "dnc"
        closed = await wait_published(svc, kafka, LeadClosedV1.event_type, 4)
        assert sorted((e.data["lead_id"], e.data["reason"]) for e in closed) == sorted([
            (l1.lead_id, "dnc.tenant"), (l5.lead_id, "sale"), (l6.lead_id, "dnc"),
            (l8.lead_id, "max_attempts")])
        assert all(e.data["list_id"] in (list_x, list_y) for e in closed)
        assert len(await published(svc, kafka, LeadClosedV1.event_type)) == 4
