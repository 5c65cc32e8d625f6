"""The tenant DNC list over HTTP: round trip, idempotency, validation, pagination, tenancy,
and the ``dnc`` events the dialer's last-mile check depends on."""

from __future__ import annotations

from typing import Any

import pytest

from common.testing.services import bearer, wait_for

pytestmark = pytest.mark.kafka

ACME, GLOBEX = bearer("acme"), bearer("globex")
NUMBER = "+12125550123"


async def test_dnc_round_trip_idempotency_validation_and_tenancy(start_compliance: Any) -> None:
    async with start_compliance() as h:
        c = h.client
        r = await c.post("/v1/dnc", json={"phone": "(212) 555-0123"}, headers=ACME)
        assert r.status_code == 201, r.text
        entry = r.json()
        assert entry["phone_e164"] == NUMBER and entry["list_id"] == "tenant"
        assert entry["source"] == "api" and entry["added_at"]

        again = await c.post("/v1/dnc", json={"phone": NUMBER, "country": "GB"}, headers=ACME)
        assert again.status_code == 200 and again.json() == entry

        bad = await c.post("/v1/dnc", json={"phone": "+1212555"}, headers=ACME)
        assert bad.status_code == 422
        assert bad.json()["error"]["message"] == "phone +1****55 is not a valid number (read as US)"
        assert "212555" not in bad.text
        country = await c.post("/v1/dnc", json={"phone": "2125550123", "country": "ZZ"},
                               headers=ACME)
        assert country.status_code == 422 and "'ZZ'" in country.json()["error"]["message"]
        shape = await c.post("/v1/dnc", json={"phone": NUMBER, "country": "USA"}, headers=ACME)
        assert shape.status_code == 422 and shape.json()["error"]["details"][0]["loc"][-1] == "country"
        no_scope = await c.post("/v1/dnc", json={"phone": NUMBER},
                                headers=bearer("acme", scopes=["dnc:read"]))
        assert no_scope.status_code == 403

        # Tenant isolation: globex neither sees nor deletes acme's entry.
        assert (await c.get("/v1/dnc", headers=GLOBEX)).json() == {"items": [], "next_after": None}
        assert (await c.delete(f"/v1/dnc/{NUMBER}", headers=GLOBEX)).status_code == 404
        assert [e["phone_e164"] for e in (await c.get("/v1/dnc", headers=ACME)).json()["items"]] \
            == [NUMBER]

        # Keyset pagination in number order.
        for n in ("+12125550125", "+12125550124", "+13125550142"):
            assert (await c.post("/v1/dnc", json={"phone": n}, headers=ACME)).status_code == 201
        page = (await c.get("/v1/dnc", params={"limit": 2}, headers=ACME)).json()
        assert [e["phone_e164"] for e in page["items"]] == [NUMBER, "+12125550124"]
        rest = (await c.get("/v1/dnc", params={"limit": 2, "after": page["next_after"]},
                            headers=ACME)).json()
        assert [e["phone_e164"] for e in rest["items"]] == ["+12125550125", "+13125550142"]
        last = (await c.get("/v1/dnc", params={"limit": 2, "after": rest["next_after"]},
                            headers=ACME)).json()
        assert last == {"items": [], "next_after": None}

        # Remove (the + may be URL-encoded), remove again, add again.
        assert (await c.delete("/v1/dnc/%2B12125550123", headers=ACME)).status_code == 204
        assert (await c.delete(f"/v1/dnc/{NUMBER}", headers=ACME)).status_code == 404
        assert (await c.delete("/v1/dnc/2125550123", headers=ACME)).status_code == 422
        listed = (await c.get("/v1/dnc", headers=ACME)).json()["items"]
        assert NUMBER not in [e["phone_e164"] for e in listed]
        assert (await c.post("/v1/dnc", json={"phone": NUMBER}, headers=ACME)).status_code == 201

        events: list[Any] = []

        async def published() -> bool:
            events[:] = await h.events("dnc")
            return len(events) >= 6

        await wait_for(published, timeout_s=20, interval_s=0.3, what="6 dnc events")
        mine = [e for e in events if e.data["phone_e164"] == NUMBER]
        assert [e.type.split(".")[2] for e in mine] == ["added", "removed", "added"]
        assert {(e.key, e.tenantid, e.data["entry_key"], e.data["list_id"]) for e in mine} == {
            (f"acme/tenant:{NUMBER}", "acme", f"acme/tenant:{NUMBER}", "tenant")}
        assert len({e.subject for e in mine}) == 1 and NUMBER not in mine[0].subject
