"""``/v1/consents`` on a running service: bad input, tenant isolation, the events, and a
consent-required campaign that blocks a number until a consent is recorded and again
once it is revoked."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from compliance_it import lead_due, offset_to_weekday
from facts_it import blocking, decided, rows

from common.db import create_engine, create_session_factory
from common.events.catalog import CampaignStateChangedV1, ConsentRevokedV1
from common.eventstore import EventStore
from common.migrations import upgrade_to_head
from common.testing.services import bearer, wait_for
from compliance.adapters.db import metadata
from compliance.adapters.facts_tables import campaign_facts
from compliance.app import consents
from compliance.main import SPEC

pytestmark = pytest.mark.kafka

NUMBER = "+12125550123"
WRITE = ("consents:write", "consents:read")
RECORDED = "callcenter.compliance.consent_recorded.v1"
REVOKED = "callcenter.compliance.consent_revoked.v1"


async def test_consents_api_and_consent_required_screening(start_compliance: Any) -> None:
    async with start_compliance(clock_offset_s=offset_to_weekday(time(15))) as h:
        acme, globex = bearer("acme", WRITE), bearer("globex", WRITE)
        now = h.svc.runtime.clock.now()
        granted = (now - timedelta(days=2)).isoformat()
        body = {"phone": "(212) 555-0123", "granted_at": granted, "source": "web_form",
                "evidence": "form-88231"}
        await h.send("acme", "campaigns", CampaignStateChangedV1(
            campaign_id="c-opt-in", state="running", requires_consent=True))
        await rows(h, campaign_facts, "acme", 1)

        # Bad input: precise 4xx, never a 500; a missing scope is 403.
        bad = await h.client.post("/v1/consents", json={**body, "phone": "+1212555"},
                                  headers=acme)
        assert bad.status_code == 422 and "not a valid number" in bad.json()["error"]["message"]
        assert "+1212555" not in bad.text
        future = await h.client.post("/v1/consents", headers=acme, json={
            **body, "granted_at": (now + timedelta(hours=1)).isoformat()})
        assert future.status_code == 422 and "in the future" in future.json()["error"]["message"]
        naive = await h.client.post("/v1/consents", headers=acme,
                                    json={**body, "granted_at": "2026-01-01T10:00:00"})
        assert naive.status_code == 422
        assert (await h.client.post("/v1/consents", json=body,
                                    headers=bearer("acme", ["dnc:write"]))).status_code == 403

        # Globex's consent for the same number does not count for acme.
        g = await h.client.post("/v1/consents", json=body, headers=globex)
        assert g.status_code == 201, g.text
        await h.send("acme", "leads", lead_due("opt-1", NUMBER, campaign_id="c-opt-in"))
        first = await decided(h, "acme", "opt-1")
        assert first["outcome"] == "blocked" and blocking(first) == ["consent.missing"]

        # Acme records one: the next screening clears the number.
        r = await h.client.post("/v1/consents", json={**body, "campaign_id": "c-opt-in"},
                                headers=acme)
        assert r.status_code == 201, r.text
        consent = r.json()
        assert consent["phone_e164"] == NUMBER and consent["revoked_at"] is None
        assert consent["campaign_id"] == "c-opt-in" and consent["source"] == "web_form"
        await h.send("acme", "leads", lead_due("opt-1", NUMBER, campaign_id="c-opt-in")
                     .model_copy(update={"attempt": 2}))
        cleared = await decided(h, "acme", "opt-1", 2)
        assert cleared["outcome"] == "cleared", cleared["reasons"]
        assert "consent.present" in [r["rule_id"] for r in cleared["reasons"]]

        # Tenants see only their own consents.
        cid = consent["consent_id"]
        for method, path in (("GET", f"/v1/consents/{cid}"),
                             ("POST", f"/v1/consents/{cid}/revoke")):
            other = await h.client.request(method, path, headers=globex)
            assert other.status_code == 404, (method, path)
        search = "/v1/consents/search"
        mine = await h.client.post(search, json={"phone": "(212) 555-0123"}, headers=acme)
        assert [c["consent_id"] for c in mine.json()["items"]] == [cid]
        theirs = await h.client.post(search, json={"phone": NUMBER}, headers=globex)
        assert [c["consent_id"] for c in theirs.json()["items"]] == [g.json()["consent_id"]]
        listed = await h.client.post(search, json={"phone": "12"}, headers=acme)
        assert listed.status_code == 422
        assert (await h.client.post(search, json={"phone": NUMBER, "country": "USA"},
                                    headers=acme)).status_code == 422
        assert (await h.client.post(search, json={"phone": NUMBER},
                                    headers=bearer("acme", ["consents:write"]))).status_code == 403
        # The number never travels in a URL: the query-string lookup is gone.
        assert (await h.client.get("/v1/consents", params={"phone": NUMBER},
                                   headers=acme)).status_code == 405

        # Revoked: blocked again; revoking twice changes nothing.
        revoked = await h.client.post(f"/v1/consents/{cid}/revoke", headers=acme,
                                      json={"reason": "asked by email"})
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        again = await h.client.post(f"/v1/consents/{cid}/revoke", headers=acme)
        assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
        await h.send("acme", "leads", lead_due("opt-1", NUMBER, campaign_id="c-opt-in")
                     .model_copy(update={"attempt": 3}))
        last = await decided(h, "acme", "opt-1", 3)
        assert last["outcome"] == "blocked" and blocking(last) == ["consent.missing"]

        # Both changes are events of the consent's stream, published for acme.
        found: list[Any] = []

        async def published() -> bool:
            found[:] = [e for e in await h.events("compliance")
                        if e.type in (RECORDED, REVOKED) and e.data["consent_id"] == cid]
            return len(found) == 2

        await wait_for(published, timeout_s=20, interval_s=0.3, what="consent events")
        assert [e.type for e in found] == [RECORDED, REVOKED]
        assert all(e.tenantid == "acme" for e in found)
        assert found[0].data["phone_e164"] == NUMBER
        assert found[1].data["reason"] == "asked by email"
        # The revocation carries the number and scope: the dialer pulls matching leads.
        assert (found[1].data["phone_e164"], found[1].data["campaign_id"]) == (NUMBER, "c-opt-in")


async def test_a_concurrent_revoke_returns_the_stored_revocation(database_url: str) -> None:
    await upgrade_to_head(database_url, SPEC.migrations, [metadata])
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    store, now = EventStore("/test"), datetime(2026, 11, 23, 12, tzinfo=UTC)
    try:
        async with sessions() as s, s.begin():
            consent = await consents.record_consent(
                s, store, tenant_id="acme", phone_e164=NUMBER, campaign_id=None, product=None,
                granted_at=now - timedelta(days=1), source="web_form", evidence=None, now=now)
        cid, first_at = consent.consent_id, now - timedelta(hours=1)
        async with sessions() as s, s.begin():
            # Another request's revocation committed after this one read the row: only
            # the stream has it when this request appends.
            await store.append(s, tenant_id="acme", stream_id=consents.consent_stream_id(cid),
                               expected_version=1, payloads=[ConsentRevokedV1(
                                   consent_id=cid, revoked_at=first_at, reason="first")])
            second = await consents.revoke_consent(
                s, store, tenant_id="acme", consent_id=cid, revoked_at=None, reason="second",
                now=now)
        assert (second.revoked_at, second.revoke_reason) == (first_at, "first")
        async with sessions() as s:
            assert len(await store.load(s, tenant_id="acme",
                                        stream_id=consents.consent_stream_id(cid))) == 2
    finally:
        await engine.dispose()
