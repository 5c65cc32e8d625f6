"""Imports end to end: CSV and JSON jobs, row errors, lead.imported on Kafka, lists, limits,
tenant isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from leads_kit import (
    ACME,
    GLOBEX,
    finished_job,
    import_json,
    leads_service,
    new_list,
    wait_published,
)

from common.events.catalog import LeadImportedV1
from common.testing.services import bearer

pytestmark = pytest.mark.kafka

CSV = (
    "phone,First Name,timezone,plan\n"          # line 1
    "(312) 555-0142,Dana,,gold\n"               # line 2: ok
    "+1 312 555 01,Bob,,x\n"                    # line 3: invalid number
    ",Carol,,x\n"                               # line 4: missing phone
    "212-555-0100,Eve,Mars/Base,x\n"            # line 5: bad zone
    '415-555-0132,"Multi\nline",,x\n'           # lines 6-7: ok
    "312.555.0142,Dup,,x\n"                     # line 8: duplicate of line 2
    "202-555-0188,Extra,,x,oops\n"              # line 9: field count
    "\n"                                        # line 10: blank
    "+44 20 7946 0018,Brit,Europe/London,x\n"   # line 11: ok (GB)
)


async def test_csv_import_reports_each_bad_row_and_imports_the_good_ones(
        kafka_broker, database_url) -> None:
    kafka = kafka_broker.bootstrap_servers
    async with leads_service(kafka, database_url, import_chunk_rows=3) as svc:
        c = svc.client
        list_id = await new_list(c)
        r = await c.post(f"/v1/lists/{list_id}/imports", headers=bearer(ACME),
                         files={"file": ("leads.csv", CSV.encode(), "text/csv")},
                         data={"default_country": "us"})
        job = await finished_job(c, r)
        assert job["status"] == "done", job
        assert {k: job[k] for k in ("total_rows", "processed_rows", "accepted", "duplicate",
                                    "invalid", "errors_truncated")} == {
            "total_rows": 8, "processed_rows": 8, "accepted": 3, "duplicate": 1, "invalid": 4,
            "errors_truncated": False}
        assert job["errors"] == [
            {"row": 3, "reason": "phone '+1******01' is not a valid number for region US"},
            {"row": 4, "reason": "missing phone"},
            {"row": 5, "reason": "unknown time zone 'Mars/Base'"},
            {"row": 8, "reason": "duplicate of row 2 of this import"},
            {"row": 9, "reason": "row has 5 fields, header has 4"},
        ]

        # the same numbers again, as JSON: duplicates of the list now
        again = await import_json(c, list_id, [{"phone": "+13125550142"},
                                               {"phone": "3125550199", "vip": True}])
        assert (again["accepted"], again["duplicate"], again["errors"]) == (1, 1, [
            {"index": 0, "reason": "duplicate of a number already in this list"}])

        imported = await wait_published(svc, kafka, LeadImportedV1.event_type, 4)
        assert len(imported) == 4
        payloads = {e.data["phone_e164"]: LeadImportedV1.model_validate(e.data) for e in imported}
        assert set(payloads) == {"+13125550142", "+14155550132", "+442079460018",
                                 "+13125550199"}
        assert all(e.tenantid == ACME and e.key == e.data["lead_id"] == e.subject
                   for e in imported)
        dana = payloads["+13125550142"]
        assert (dana.list_id, dana.country, dana.attributes) == (
            list_id, "US", {"first_name": "Dana", "plan": "gold"})
        assert [(z.zone, z.source) for z in dana.candidate_zones] == [
            ("America/Chicago", "number_prefix")]
        brit = payloads["+442079460018"]
        assert (brit.country, [(z.zone, z.source) for z in brit.candidate_zones]) == (
            "GB", [("Europe/London", "explicit")])
        assert payloads["+14155550132"].attributes["first_name"] == "Multi\nline"

        detail = (await c.get(f"/v1/lists/{list_id}", headers=bearer(ACME))).json()
        assert (detail["name"], detail["lead_count"], detail["counts"]["new"]) == (
            "Renewals", 4, 4)

        # keyset pages in import order, then the lead itself
        page1 = (await c.get(f"/v1/lists/{list_id}/leads?limit=3&status=new",
                             headers=bearer(ACME))).json()
        page2 = (await c.get(f"/v1/lists/{list_id}/leads?limit=3&status=new"
                             f"&after={page1['next_after']}", headers=bearer(ACME))).json()
        phones = [x["phone_e164"] for x in page1["items"] + page2["items"]]
        assert phones == ["+13125550142", "+14155550132", "+442079460018", "+13125550199"]
        assert page2["next_after"] is None
        closed = (await c.get(f"/v1/lists/{list_id}/leads?status=closed",
                              headers=bearer(ACME))).json()
        assert closed == {"items": [], "next_after": None}
        lead = (await c.get(f"/v1/leads/{dana.lead_id}", headers=bearer(ACME))).json()
        assert {k: lead[k] for k in ("status", "attempts", "phone_e164", "closed_reason")} == {
            "status": "new", "attempts": 0, "phone_e164": "+13125550142", "closed_reason": None}

        # another tenant sees none of it
        for url in (f"/v1/lists/{list_id}", f"/v1/lists/{list_id}/leads",
                    f"/v1/imports/{job['job_id']}", f"/v1/leads/{dana.lead_id}"):
            r = await c.get(url, headers=bearer(GLOBEX))
            assert r.status_code == 404, (url, r.text)
        r = await c.post(f"/v1/lists/{list_id}/imports", headers=bearer(GLOBEX),
                         json={"leads": [{"phone": "+13125550100"}]})
        assert r.status_code == 404


async def test_json_import_reports_rows_by_index(kafka_broker, database_url) -> None:
    kafka = kafka_broker.bootstrap_servers
    async with leads_service(kafka, database_url) as svc:
        list_id = await new_list(svc.client)
        job = await import_json(svc.client, list_id, [
            {"phone": 3125550142, "first_name": "A", "vip": True},
            {"phone": "12"},
            "oops",
            {"phone": "2125550100", "country": "XX"},
            {"phone": "+13125550142"},
            {"phone": "2125550100", "tags": {"a": 1}},
            {"phone": "+44 20 7946 0018", "country": "GB", "timezone": "Europe/London"},
        ])
        assert (job["status"], job["total_rows"], job["accepted"], job["duplicate"],
                job["invalid"]) == ("done", 7, 2, 1, 4)
        assert job["errors"] == [
            {"index": 1, "reason": "phone '**' is not a valid number for region US"},
            {"index": 2, "reason": "lead must be a JSON object, got string"},
            {"index": 3, "reason": "unknown country 'XX'"},
            {"index": 4, "reason": "duplicate of index 0 of this import"},
            {"index": 5, "reason": "field 'tags' must be a string or a number, got object"},
        ]
        [first] = [lead for lead in (await svc.client.get(
            f"/v1/lists/{list_id}/leads", headers=bearer(ACME))).json()["items"]
            if lead["country"] == "US"]
        assert first["attributes"] == {"first_name": "A", "vip": "true"}


async def test_bad_requests_get_precise_4xx(kafka_broker, tmp_path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/limits.db"
    async with leads_service(kafka_broker.bootstrap_servers, database_url,
                             max_upload_bytes=4096) as svc:
        c = svc.client
        list_id = await new_list(c)
        url = f"/v1/lists/{list_id}/imports"
        big = b"phone\n" + b"3125550142\n" * 500
        r = await c.post(url, headers=bearer(ACME), files={"file": ("big.csv", big, "text/csv")})
        assert (r.status_code, r.json()["error"]["code"]) == (413, "payload_too_large")

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(500):
                yield b"3125550142\n"

        r = await c.post(url, headers={**bearer(ACME), "content-type": "text/csv"},
                         content=chunked())
        assert r.status_code == 413  # streamed without a length: stopped while reading
        r = await c.post(url, headers={**bearer(ACME), "content-type": "text/plain"},
                         content=b"phone\n3125550142\n")
        assert r.status_code == 415
        assert "send application/json" in r.json()["error"]["message"]
        r = await c.post(url, headers=bearer(ACME),
                         files={"file": ("x.csv", b"name,email\nA,a@x\n", "text/csv")})
        assert (r.status_code, r.json()["error"]["message"]) == (
            422, "CSV header has no 'phone' column (found: name, email)")
        r = await c.post(url, headers=bearer(ACME),
                         files={"file": ("x.csv", "phone\nJos\u00e9\n".encode("latin-1"), "text/csv")})
        assert r.json()["error"]["message"] == "CSV file is not UTF-8 text: byte 0xe9 at offset 9"
        r = await c.post(url + "?default_country=ZZ",
                         headers={**bearer(ACME), "content-type": "text/csv"},
                         content=b"phone\n3125550142\n")
        assert r.status_code == 422 and "unknown country 'ZZ'" in r.json()["error"]["message"]
        r = await c.post(url, headers=bearer(ACME), json={"leads": [], "default_country": "US"})
        assert r.status_code == 422
        r = await c.post(url, headers=bearer(ACME), data={"default_country": "US"},
                         files={"other": ("x.csv", b"phone\n1\n", "text/csv")})
        assert r.json()["error"]["message"] == (
            "multipart upload has no file field 'file' (the CSV file)")
        r = await c.post(url, headers=bearer(ACME, scopes=["leads:read"]),
                         json={"leads": [{"phone": "+13125550142"}]})
        assert r.status_code == 403
        r = await c.post("/v1/lists", headers=bearer(ACME), json={"name": "  "})
        assert r.status_code == 422
        r = await c.get(f"/v1/lists/{list_id}/leads?status=sleeping", headers=bearer(ACME))
        assert r.status_code == 422
        # a raw text/csv body works too
        r = await c.post(url + "?default_country=US",
                         headers={**bearer(ACME), "content-type": "text/csv"},
                         content=b"phone\n3125550142\n")
        assert (await finished_job(c, r))["accepted"] == 1
