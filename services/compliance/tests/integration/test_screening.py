"""Screening of ``lead.due`` at a controlled instant, decisions on Kafka and over HTTP, a
campaign not heard of yet (retried, then screened), and ``do_not_call`` dispositions
reaching the tenant DNC list."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from compliance_it import NEW_YORK, lead_due, offset_to_weekday

from common.events.catalog import DispositionSubmittedV1, LeadClosedV1
from common.testing.services import bearer, wait_for

pytestmark = pytest.mark.kafka

NUMBER = "+12125550123"  # Manhattan: America/New_York
FRESH = "+12125550188"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _rules(decision: dict[str, Any]) -> list[str]:
    return [r["rule_id"] for r in decision["reasons"]]


async def test_screening_at_3pm_new_york(start_compliance: Any) -> None:
    async with start_compliance(clock_offset_s=offset_to_weekday(time(15)),
                                unknown_campaign_retry_s=20) as h:
        acme, globex = bearer("acme"), bearer("globex")
        # A campaign compliance has not heard of yet: blocked, to be re-dued 20 s later.
        await h.send("acme", "leads", lead_due("a-new", FRESH, campaign_id="camp-new"))
        early = await h.decision("acme", "a-new")
        assert early["outcome"] == "blocked" and _rules(early) == ["campaign.unknown"]
        assert "not yet received the settings of campaign camp-new" in early["reasons"][0]["message"]
        early_at = _at((await h.client.get("/v1/leads/a-new/decisions", headers=acme))
                       .json()["items"][0]["decided_at"])
        assert _at(early["earliest_callable_at"]) == early_at + timedelta(seconds=20)
        assert early["valid_until"] is None
        # Its settings arrive (acme's only): the re-dued lead is screened normally.
        await h.known_campaigns("acme", "camp-1", "camp-new")
        await h.known_campaigns("globex", "camp-1")
        await h.send("acme", "leads", lead_due("a-new", FRESH, campaign_id="camp-new")
                     .model_copy(update={"attempt": 2}))
        later = await h.decision("acme", "a-new", count=2)
        assert later["outcome"] == "cleared", later["reasons"]
        await h.send("globex", "leads", lead_due("g-new", FRESH, campaign_id="camp-new"))
        assert _rules(await h.decision("globex", "g-new")) == ["campaign.unknown"]

        assert (await h.client.post("/v1/dnc", json={"phone": NUMBER}, headers=acme)).status_code == 201
        await h.send("acme", "leads", LeadClosedV1(lead_id="a-dnc", list_id="l", reason="x"),
                     lead_due("a-dnc", NUMBER), lead_due("a-nozone", "+12125550199", zones=[]),
                     lead_due("a-bad", "+1212555"), lead_due("a-long", "+1" + "2" * 40),
                     lead_due("a-mars", "+12125550177", zones=["Mars/Olympus"]))
        await h.send("globex", "leads", lead_due("g-1", NUMBER))

        # On acme's list: blocked for good, with the rule and the list version.
        blocked = await h.decision("acme", "a-dnc")
        assert blocked["outcome"] == "blocked" and _rules(blocked) == ["dnc.tenant"]
        assert blocked["earliest_callable_at"] is None and blocked["valid_until"] is None
        assert blocked["phone_e164"] == NUMBER and blocked["policy_version"].startswith("sha256:")
        assert blocked["inputs"]["lists"] == [{"list_id": "tenant", "kind": "tenant", "version": 1}]
        assert {"zone": "America/New_York", "source": "phone_prefix", "detail": "prefix +1212"} \
            in blocked["inputs"]["zones"]
        record = (await h.client.get("/v1/leads/a-dnc/decisions", headers=acme)).json()["items"]
        assert [d["decision_id"] for d in record] == [blocked["decision_id"]]
        dnc = next(r for r in record[0]["reasons"] if r["rule_id"] == "dnc.tenant")
        assert dnc["effect"] == "block" and dnc["permanent"] and "version 1" in dnc["text"]
        assert record[0]["number_masked"] == "+1********23" and NUMBER not in str(record)
        assert (await h.client.get("/v1/leads/a-dnc/decisions", headers=globex)).status_code == 404

        # The same number is not on globex's list: cleared, until 15:15 at the latest.
        cleared = await h.decision("globex", "g-1")
        assert cleared["outcome"] == "cleared", cleared["reasons"]
        decided = _at((await h.client.get("/v1/leads/g-1/decisions", headers=globex))
                      .json()["items"][0]["decided_at"])
        local = decided.astimezone(NEW_YORK)
        assert local.weekday() < 5 and local.hour == 15
        window_end = datetime.combine(local.date(), time(21), NEW_YORK)
        valid_until = _at(cleared["valid_until"])
        assert decided < valid_until <= min(window_end, decided + timedelta(minutes=15))
        assert "clearance.max_age" in _rules(cleared) and "registry.waived" in _rules(cleared)

        # Fail closed: no zone on the lead record, an invalid number, an unknown zone.
        for lead_id, rule in (("a-nozone", "zone.unknown"), ("a-bad", "number.invalid"),
                              ("a-long", "number.invalid"), ("a-mars", "zone.invalid")):
            d = await h.decision("acme", lead_id)
            assert d["outcome"] == "blocked" and rule in _rules(d), (lead_id, d["reasons"])
            assert d["earliest_callable_at"] is None
        assert not any(e.data.get("lead_id") == "a-dnc" and e.data["outcome"] == "cleared"
                       for e in await h.events("compliance"))  # budgets have no lead

        # A do_not_call disposition puts globex's number on globex's list at once...
        await h.send("globex", "agents", DispositionSubmittedV1(
            agent_id="ag-1", call_id="call-1", lead_id="g-1", campaign_id="camp-1",
            disposition="do_not_call", category="dnc", at=decided))

        async def listed() -> bool:
            r = await h.client.get("/v1/dnc", headers=globex)
            return [e["phone_e164"] for e in r.json()["items"]] == [NUMBER]

        await wait_for(listed, timeout_s=30, what="the disposition on globex's list")
        added = [e for e in await h.events("dnc", expect=2) if e.tenantid == "globex"]
        assert [(e.data["entry_key"], e.data["source"]) for e in added] == [
            (f"globex/tenant:{NUMBER}", "disposition")]
        # ... and the number now blocks.
        await h.send("globex", "leads", lead_due("g-1", NUMBER).model_copy(update={"attempt": 2}))
        again = await h.decision("globex", "g-1", count=2)
        assert again["outcome"] == "blocked" and _rules(again) == ["dnc.tenant"]
        assert again["attempt"] == 2


async def test_screening_at_10pm_new_york(start_compliance: Any) -> None:
    async with start_compliance(clock_offset_s=offset_to_weekday(time(22))) as h:
        await h.known_campaigns("acme", "camp-1")
        await h.send("acme", "leads", lead_due("late-1", NUMBER))
        blocked = await h.decision("acme", "late-1")
        assert blocked["outcome"] == "blocked" and _rules(blocked) == ["hours.closed"]
        decided = _at((await h.client.get("/v1/leads/late-1/decisions", headers=bearer("acme")))
                      .json()["items"][0]["decided_at"])
        local = decided.astimezone(NEW_YORK)
        assert local.hour == 22
        expected = datetime.combine(local.date() + timedelta(days=1), time(8), NEW_YORK)
        assert _at(blocked["earliest_callable_at"]) == expected
