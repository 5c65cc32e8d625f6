"""``POST /v1/compliance/checks``: the screening path over HTTP — precise blocks for bad
values and unknown campaigns, 422 with the item index for a malformed body, what-if
instants, tenant-scoped facts, and nothing recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from compliance_it import NEW_YORK, offset_to_weekday

from common.testing.services import bearer

pytestmark = pytest.mark.kafka

ACME, GLOBEX = bearer("acme"), bearer("globex")
LISTED, OTHER = "+12125550123", "+12125550199"


def _item(phone: str, **fields: Any) -> dict[str, Any]:
    return {"phone_e164": phone, "campaign_id": "camp-1", **fields}


def _blocks(item: dict[str, Any]) -> list[str]:
    return [r["rule_id"] for r in item["reasons"] if r["effect"] == "block"]


async def test_batch_check(start_compliance: Any) -> None:
    async with start_compliance(clock_offset_s=offset_to_weekday(time(15))) as h:
        c = h.client
        assert (await c.post("/v1/dnc", json={"phone": LISTED}, headers=ACME)).status_code == 201
        await h.known_campaigns("acme", "camp-1")
        await h.known_campaigns("globex", "camp-1", "camp-globex")
        items = [
            _item(LISTED, lead_id="lead-7"),
            _item("+1212555"),
            _item(OTHER, address={"country": "US", "region": "ZZ"}),
            _item(OTHER, explicit_zone="Mars/Olympus"),
            _item(OTHER),
            _item(OTHER, address={"country": "US", "region": "CA", "postal_code": "90210"}),
            _item("+18005550100"),
            _item(OTHER, candidate_zones=[]),
            _item(OTHER, candidate_zones=[{"zone": "America/Los_Angeles", "source": "region"}]),
            _item(OTHER, campaign_id="camp-globex"),  # globex's campaign, unknown to acme
        ]
        r = await c.post("/v1/compliance/checks", json={"items": items}, headers=ACME)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["what_if"] is False and body["recorded"] is False
        out = body["items"]
        assert [i["index"] for i in out] == list(range(len(items)))
        assert _blocks(out[0]) == ["dnc.tenant"] and out[0]["lead_id"] == "lead-7"
        assert _blocks(out[1]) == ["number.invalid"] and "+1****55" in out[1]["reasons"][0]["text"]
        assert _blocks(out[2]) == ["jurisdiction.unknown"]
        assert "'US-ZZ'" in out[2]["reasons"][0]["text"]
        assert _blocks(out[3]) == ["zone.invalid"] and "Mars/Olympus" in out[3]["reasons"][0]["text"]
        cleared = out[4]
        assert cleared["outcome"] == "cleared" and cleared["policy_version"].startswith("sha256:")
        assert cleared["zones"] == [{"zone": "America/New_York", "source": "phone_prefix",
                                     "detail": "prefix +1212"}]
        assert cleared["valid_until"] and cleared["earliest_callable_at"] is None
        assert LISTED not in r.text and OTHER not in r.text  # numbers only masked
        # New York number, Beverly Hills address: both zones; 12:00 in LA, cleared.
        assert out[5]["outcome"] == "cleared", out[5]["reasons"]
        assert {(z["zone"], z["source"]) for z in out[5]["zones"]} == {
            ("America/New_York", "phone_prefix"), ("America/Los_Angeles", "postal_code")}
        assert "US-CA" in out[5]["jurisdictions"]
        assert _blocks(out[6]) == ["zone.non_geographic"]
        assert _blocks(out[7]) == ["zone.unknown"]
        assert {z["zone"] for z in out[8]["zones"]} == {"America/New_York", "America/Los_Angeles"}
        # Fail closed on a campaign compliance has not heard of: retried 10 s later.
        assert _blocks(out[9]) == ["campaign.unknown"] and out[9]["policy_version"] == "none"
        assert datetime.fromisoformat(out[9]["earliest_callable_at"]) == \
            datetime.fromisoformat(body["at"]) + timedelta(seconds=10)

        # A large batch is decided in slices; results keep the items' order.
        many = [_item(f"+1212556{i:04d}") for i in range(120)]
        many[105] = _item(LISTED)
        r = await c.post("/v1/compliance/checks", json={"items": many}, headers=ACME)
        outcomes = [i["outcome"] for i in r.json()["items"]]
        assert outcomes == ["cleared"] * 105 + ["blocked"] + ["cleared"] * 14

        # Tenant-scoped facts: acme's DNC entry is not globex's.
        g = await c.post("/v1/compliance/checks", json={"items": [_item(LISTED)]}, headers=GLOBEX)
        assert g.json()["items"][0]["outcome"] == "cleared"

        # What-if at 22:00 New York: closed until 08:00 the next morning.
        now = h.svc.runtime.clock.now().astimezone(NEW_YORK)
        late = datetime.combine(now.date(), time(22), NEW_YORK)
        w = await c.post("/v1/compliance/checks", headers=ACME, json={
            "items": [_item(OTHER, lead_id="lead-8"), _item(OTHER, campaign_id="camp-2")],
            "at": late.isoformat()})
        wi = w.json()
        assert wi["what_if"] is True and datetime.fromisoformat(wi["at"]) == late
        assert _blocks(wi["items"][0]) == ["hours.closed"]
        assert datetime.fromisoformat(wi["items"][0]["earliest_callable_at"]) == \
            datetime.combine(now.date() + timedelta(days=1), time(8), NEW_YORK)
        assert _blocks(wi["items"][1]) == ["campaign.unknown"]
        assert datetime.fromisoformat(wi["items"][1]["earliest_callable_at"]) == \
            late + timedelta(seconds=10)

        # Nothing recorded: no decision for the leads checked, none in the export.
        for lead in ("lead-7", "lead-8"):
            assert (await c.get(f"/v1/leads/{lead}/decisions", headers=ACME)).status_code == 404
        day = datetime.now(UTC)
        h.svc.runtime.clock.shift(61)  # past the export's settle margin
        export = await c.get("/v1/decisions/export", headers=ACME, params={
            "from": (day - timedelta(days=3)).isoformat(), "to": (day + timedelta(days=3)).isoformat()})
        assert export.status_code == 200
        assert [json.loads(line)["rows"] for line in export.text.splitlines()] == [0]

        # A what-if more than 366 days away: 422 with the reason.
        far = await c.post("/v1/compliance/checks", headers=ACME, json={
            "items": [_item(OTHER)], "at": (late + timedelta(days=400)).isoformat()})
        assert far.status_code == 422
        assert "must be within 366 days of now" in far.json()["error"]["message"]

        # Malformed bodies: 422 naming the item index; a missing scope: 403.
        shape = await c.post("/v1/compliance/checks", headers=ACME, json={"items": [
            _item(OTHER), _item(OTHER), {"phone_e164": OTHER}, _item(OTHER, address={"country": "USA"})]})
        assert shape.status_code == 422
        locs = [d["loc"] for d in shape.json()["error"]["details"]]
        assert ["body", "items", 2, "campaign_id"] in locs
        assert ["body", "items", 3, "address", "country"] in locs
        too_many = await c.post("/v1/compliance/checks", headers=ACME,
                                json={"items": [_item(OTHER)] * 1001})
        assert too_many.status_code == 422 and too_many.json()["error"]["details"][0]["loc"] == [
            "body", "items"]
        empty = await c.post("/v1/compliance/checks", headers=ACME, json={"items": []})
        assert empty.status_code == 422
        naive = await c.post("/v1/compliance/checks", headers=ACME,
                             json={"items": [_item(OTHER)], "at": "2026-01-01T12:00:00"})
        assert naive.status_code == 422
        no_scope = await c.post("/v1/compliance/checks", json={"items": [_item(OTHER)]},
                                headers=bearer("acme", scopes=["dnc:read"]))
        assert no_scope.status_code == 403
