"""The due scheduler on real Kafka: running campaigns only, one owner per list, the
in-flight cap, and no second lead.due for a lead already due after a restart."""

from __future__ import annotations

import pytest
from leads_kit import (
    ACME,
    GLOBEX,
    import_json,
    leads_service,
    new_list,
    publish,
    published,
    settle,
    wait_published,
)

from common.events.catalog import (
    CampaignStateChangedV1,
    ComplianceDecidedV1,
    DecisionReason,
    LeadDueV1,
)
from common.testing.services import bearer

pytestmark = pytest.mark.kafka
A_PHONES = ["+13125550142", "+13125550143", "+13125550144", "+13125550145"]
B_PHONES = ["+12125550100", "+12125550101"]


def running(campaign_id: str, list_ids: list[str], state: str = "running") -> CampaignStateChangedV1:
    return CampaignStateChangedV1(campaign_id=campaign_id, state=state,  # type: ignore[arg-type]
                                  list_ids=list_ids)


async def test_due_only_for_running_campaigns_within_the_cap_and_once(
        kafka_broker, database_url) -> None:
    kafka = kafka_broker.bootstrap_servers
    async with leads_service(kafka, database_url, max_in_flight_per_campaign=2) as svc:
        c = svc.client
        list_a, list_b = await new_list(c, name="A"), await new_list(c, name="B")
        await import_json(c, list_a, [{"phone": p} for p in A_PHONES])
        await import_json(c, list_b, [{"phone": p} for p in B_PHONES])
        await publish(svc, kafka, ACME, running("c-old", [list_a]),
                      running("c-paused", [list_b], "paused"))
        await publish(svc, kafka, ACME, running("c-young", [list_a]))
        # another tenant's campaign naming acme's list gets nothing from it
        await publish(svc, kafka, GLOBEX, running("g-1", [list_a]))

        await wait_published(svc, kafka, LeadDueV1.event_type, 2)
        await settle()
        dues = await published(svc, kafka, LeadDueV1.event_type)
        assert len(dues) == 2, "the cap of 2 in flight per campaign was not kept"
        for env in dues:
            due = LeadDueV1.model_validate(env.data)
            assert (env.tenantid, due.campaign_id, due.list_id, due.attempt, due.reason) == (
                ACME, "c-old", list_a, 1, "new")
            assert due.phone_e164 in A_PHONES and due.country == "US"
            assert [z.zone for z in due.candidate_zones] == ["America/Chicago"]
        counts = (await c.get(f"/v1/lists/{list_a}", headers=bearer(ACME))).json()["counts"]
        assert (counts["due"], counts["new"]) == (2, 2)

        # closing one in-flight lead frees a slot for a third lead of list A
        first = LeadDueV1.model_validate(dues[0].data)
        await publish(svc, kafka, ACME, ComplianceDecidedV1(
            decision_id="d-1", lead_id=first.lead_id, list_id=list_a, campaign_id="c-old",
            attempt=1, phone_e164=first.phone_e164, outcome="blocked", policy_version="t",
            reasons=[DecisionReason(rule_id="dnc.tenant", message="on the tenant DNC list")]))
        await wait_published(svc, kafka, LeadDueV1.event_type, 3)

    # restarted with room for one more: only the last waiting lead becomes due
    async with leads_service(kafka, database_url, topic_prefix=svc.topic_prefix,
                             max_in_flight_per_campaign=3) as svc:
        await wait_published(svc, kafka, LeadDueV1.event_type, 4)
        await settle()
        dues = await published(svc, kafka, LeadDueV1.event_type)
        assert sorted(e.data["phone_e164"] for e in dues) == sorted(A_PHONES), (
            "a restart handed out a lead that was already due")

        # the paused campaign starts: list B is handed out, to it
        await publish(svc, kafka, ACME, running("c-paused", [list_b]))
        everything = await wait_published(svc, kafka, LeadDueV1.event_type, 6)
        for_b = [e.data for e in everything if e.data["list_id"] == list_b]
        assert sorted(d["phone_e164"] for d in for_b) == sorted(B_PHONES)
        assert {d["campaign_id"] for d in for_b} == {"c-paused"}
        await settle()
        assert len(await published(svc, kafka, LeadDueV1.event_type)) == 6
