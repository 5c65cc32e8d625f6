"""``GET /v1/decisions/export``: the tenant's decisions for a period, streamed in keyset
pages (JSONL and CSV), full numbers, another tenant's records never included, and the
period validated."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from compliance_it import lead_due, offset_to_weekday
from sqlalchemy import insert
from sqlalchemy.exc import OperationalError

from common.testing.services import bearer, wait_for
from compliance.adapters.db import decisions
from compliance.api import export

pytestmark = pytest.mark.kafka

ACME, GLOBEX = bearer("acme"), bearer("globex")
LISTED = "+12125550123"


async def test_export(start_compliance: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "_PAGE", 2)  # 3 records: two pages and the keyset
    # a weekday afternoon in UTC, within New York's calling hours: the only rule that
    # blocks a-1 is the tenant's DNC list, whatever the time of the test run
    async with start_compliance(clock_offset_s=offset_to_weekday(time(15))) as h:
        c = h.client
        assert (await c.post("/v1/dnc", json={"phone": LISTED}, headers=ACME)).status_code == 201
        await h.known_campaigns("acme", "camp-1")
        await h.known_campaigns("globex", "camp-1")
        await h.send("acme", "leads", lead_due("a-1", LISTED), lead_due("a-2", "+12125550124"),
                     lead_due("a-3", "+12125550125"))
        await h.send("globex", "leads", lead_due("g-1", "+12125550126"))

        async def stored() -> bool:
            for tenant, lead in (("acme", "a-1"), ("acme", "a-2"), ("acme", "a-3"),
                                 ("globex", "g-1")):
                r = await c.get(f"/v1/leads/{lead}/decisions", headers=bearer(tenant))
                if r.status_code != 200:
                    return False
            return True

        await wait_for(stored, timeout_s=30, what="four decisions")
        period = {"from": (h.svc.runtime.clock.now() - timedelta(hours=1)).isoformat(),
                  "to": (h.svc.runtime.clock.now() + timedelta(hours=1)).isoformat()}
        # The last 60 s are not exported yet (late commits): the decisions just made are not.
        r = await c.get("/v1/decisions/export", params=period, headers=ACME)
        assert [json.loads(line).get("export") for line in r.text.splitlines()] == ["complete"]
        h.svc.runtime.clock.shift(61)
        now = h.svc.runtime.clock.now()

        r = await c.get("/v1/decisions/export", params=period, headers=ACME)
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
        assert "attachment" in r.headers["content-disposition"]
        capped = datetime.fromisoformat(r.headers["x-export-to"])
        assert now - timedelta(seconds=60) <= capped <= h.svc.runtime.clock.now() - timedelta(
            seconds=60)
        *lines, trailer = [json.loads(line) for line in r.text.splitlines()]
        assert trailer == {"export": "complete", "rows": 3, "from": period["from"],
                           "to": r.headers["x-export-to"]}
        assert sorted(d["lead_id"] for d in lines) == ["a-1", "a-2", "a-3"]
        keys = [(d["decided_at"], d["decision_id"]) for d in lines]
        assert keys == sorted(keys) and len(set(keys)) == 3
        first = next(d for d in lines if d["lead_id"] == "a-1")
        assert first["phone_e164"] == LISTED and first["outcome"] == "blocked"
        assert first["policy_version"].startswith("sha256:") and first["zones"]

        g = await c.get("/v1/decisions/export", params=period, headers=GLOBEX)
        assert [json.loads(line)["lead_id"] for line in g.text.splitlines()[:-1]] == ["g-1"]
        assert LISTED not in g.text

        r = await c.get("/v1/decisions/export", params={**period, "format": "csv"}, headers=ACME)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert list(rows[0]) == list(export.CSV_COLUMNS)
        by_lead = {row["lead_id"]: row for row in rows}
        assert sorted(by_lead) == ["a-1", "a-2", "a-3"]
        assert by_lead["a-1"]["blocking_rules"] == "dnc.tenant"
        assert by_lead["a-1"]["phone_e164"] == LISTED
        assert "dnc.tenant" in [r["rule_id"] for r in json.loads(by_lead["a-1"]["reasons"])]

        # Outside the period: nothing (CSV: the header only).
        before = {"from": (now - timedelta(days=2)).isoformat(),
                  "to": (now - timedelta(days=1)).isoformat(), "format": "csv"}
        r = await c.get("/v1/decisions/export", params=before, headers=ACME)
        assert r.text.splitlines() == [",".join(export.CSV_COLUMNS)]

        # The period is validated: 422 with the reason.
        start = (now - timedelta(minutes=5)).isoformat()
        bad = {
            "to before from": {"from": start, "to": (now - timedelta(minutes=6)).isoformat()},
            "from within the settle margin": {"from": (now - timedelta(seconds=30)).isoformat(),
                                              "to": (now + timedelta(hours=1)).isoformat()},
            "year 1": {"from": "0001-01-01T00:00:00+05:00", "to": start},
            "year 9999": {"from": start, "to": "9999-12-31T23:59:59-05:00"},
            "empty period": {"from": start, "to": start},
            "too long": {"from": (now - timedelta(days=400)).isoformat(), "to": start},
            "naive": {"from": "2026-01-01T00:00:00", "to": start},
            "missing to": {"from": start},
            "bad format": {**period, "format": "xml"},
        }
        for case, params in bad.items():
            r = await c.get("/v1/decisions/export", params=params, headers=ACME)
            assert r.status_code == 422, (case, r.text)
        too_long = await c.get("/v1/decisions/export", params=bad["too long"], headers=ACME)
        assert "at most 366" in too_long.json()["error"]["message"]
        year1 = await c.get("/v1/decisions/export", params=bad["year 1"], headers=ACME)
        assert "'from' (0001-01-01T00:00:00+05:00) must be between 1970" in \
            year1.json()["error"]["message"]
        recent = await c.get("/v1/decisions/export", params=bad["from within the settle margin"],
                             headers=ACME)
        assert "the last 60 s are not exported yet" in recent.json()["error"]["message"]
        assert (await c.get("/v1/decisions/export", params=period,
                            headers=bearer("acme", scopes=["dnc:read"]))).status_code == 403


async def test_an_error_mid_stream_aborts_the_transfer(
        start_compliance: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async with start_compliance() as h:
        async with h.svc.runtime.sessions() as s, s.begin():
            await s.execute(insert(decisions), [
                {"tenant_id": "acme", "decision_id": f"d-{i}", "lead_id": f"l-{i}",
                 "list_id": "l", "campaign_id": "c", "attempt": 1, "outcome": "blocked",
                 "phone_e164": LISTED, "payload": {}, "decided_at": h.svc.runtime.clock.now()
                 - timedelta(hours=1, seconds=i)} for i in range(3)])
        real = export._pages

        async def failing(*args: Any) -> AsyncIterator[Any]:
            async for page in real(*args):
                yield page
                raise OperationalError("SELECT", {}, Exception("connection lost"))

        monkeypatch.setattr(export, "_PAGE", 2)
        monkeypatch.setattr(export, "_pages", failing)
        now = h.svc.runtime.clock.now()
        period = {"from": (now - timedelta(hours=2)).isoformat(), "to": now.isoformat()}
        # Over HTTP: the client's read fails (never a clean end of the body).
        with pytest.raises(OperationalError):
            await h.client.get("/v1/decisions/export", headers=ACME, params=period)
        # What was written before the error: the first page, and no trailer line.
        received: list[str] = []
        start, end = now - timedelta(hours=2), now - timedelta(seconds=60)
        with pytest.raises(OperationalError):
            async for chunk in export._body(failing(h.svc.runtime, "acme", start, end),
                                            "jsonl", start, end):
                received.append(chunk)
        lines = "".join(received).splitlines()
        assert len(lines) == 2 and all("export" not in json.loads(x) for x in lines)
