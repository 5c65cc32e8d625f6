"""National registry imports over HTTP: operator-only upload, background parse with
progress, staleness and hits in screening (``lead.due`` and batch checks), refused files
that leave the copy in force, and the start-up rebuild from the ``.npy`` source of truth."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from compliance_it import lead_due, offset_to_weekday
from sqlalchemy import update

from common.auth import OPERATOR_SCOPE
from common.testing.services import bearer, wait_for
from compliance.adapters.registry_tables import registry_imports
from compliance.app.registries import NationalRegistries, shared_registries

pytestmark = pytest.mark.kafka

OPERATOR = bearer("platform", scopes=[OPERATOR_SCOPE], subject="ops-1")
ACME = bearer("acme")
LISTED, UNLISTED = "+12125550123", "+12125550199"


async def _import(client: Any, body: bytes, *, days_old: float, version: str,
                  name: str = "US-DNC", now: datetime | None = None,
                  force: bool = False) -> dict[str, Any]:
    """Upload a registry file and wait for its job to end; the job."""
    now = now or datetime.now(UTC)
    params = {"version": version, "downloaded_at": (now - timedelta(days=days_old)).isoformat()}
    if force:
        params["force"] = "true"
    r = await client.post(f"/v1/registries/{name}/imports", content=body, headers=OPERATOR,
                          params=params)
    assert r.status_code == 202, r.text
    url = r.json()["status_url"]
    job: dict[str, Any] = {}

    async def ended() -> bool:
        job.update((await client.get(url, headers=OPERATOR)).json())
        return job["state"] != "running"

    await wait_for(ended, timeout_s=20, what=f"import {version}")
    return job


async def _check(client: Any, phone: str, at: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"items": [{"phone_e164": phone, "campaign_id": "camp-1"}]}
    if at:
        body["at"] = at
    r = await client.post("/v1/compliance/checks", json=body, headers=ACME)
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()["items"][0]
    return item


def _rules(item: dict[str, Any]) -> list[str]:
    return [r["rule_id"] for r in item["reasons"] if r["effect"] == "block"]


async def test_registry_import_staleness_hits_refusals_and_rebuild(
        start_compliance: Any, tmp_path: Path) -> None:
    settings = {"clock_offset_s": offset_to_weekday(time(15)), "waived_registries": [],
                "registry_dir": str(tmp_path / "registries")}
    async with start_compliance(**settings) as h:
        c = h.client
        now = h.svc.runtime.clock.now()
        await h.known_campaigns("acme", "camp-1")
        listing = (await c.get("/v1/registries", headers=ACME)).json()["items"]
        assert {i["name"]: i["status"] for i in listing} == {
            "CA-DNCL": "missing", "FR-BLOCTEL": "missing", "GB-TPS": "missing", "US-DNC": "missing"}
        assert _rules(await _check(c, UNLISTED)) == ["registry.missing"]

        # Platform data: a tenant token (every tenant scope) may not import; unknown names 404.
        forbidden = await c.post("/v1/registries/US-DNC/imports", content=b"+12125550123\n",
                                 headers=ACME, params={"version": "x", "downloaded_at": now.isoformat()})
        assert forbidden.status_code == 403 and OPERATOR_SCOPE in forbidden.text
        unknown = await c.post("/v1/registries/DE-ROBINSON/imports", content=b"1\n", headers=OPERATOR,
                               params={"version": "x", "downloaded_at": now.isoformat()})
        assert unknown.status_code == 404
        assert unknown.json()["error"]["details"]["known"] == ["CA-DNCL", "FR-BLOCTEL", "GB-TPS", "US-DNC"]
        assert (await c.get("/v1/registries/imports/nope", headers=OPERATOR)).status_code == 404
        multipart = await c.post("/v1/registries/US-DNC/imports", headers=OPERATOR,
                                 files={"file": ("us.txt", b"+12125550123\n")},
                                 params={"version": "m", "downloaded_at": now.isoformat()})
        assert multipart.status_code == 415

        # A 32-day-old copy is already stale: refused unless forced.
        old_file = f"{LISTED}\n212,5550124\n\n# comment\n12125550125\n".encode()
        refused = await c.post("/v1/registries/US-DNC/imports", content=old_file, headers=OPERATOR,
                               params={"version": "2026-old", "downloaded_at": (
                                   now - timedelta(days=32)).isoformat()})
        assert refused.status_code == 422, refused.text
        assert "already stale" in refused.json()["error"]["message"]
        # Forced: everything in the US is blocked registry.stale.
        old = await _import(c, old_file, days_old=32, version="2026-old", now=now, force=True)
        assert old["state"] == "succeeded", old
        assert (old["lines_read"], old["numbers"]) == (5, 3) and old["error"] is None
        job_url = f"/v1/registries/imports/{old['job_id']}"
        assert (await c.get(job_url, headers=ACME)).status_code == 403
        stale = await _check(c, UNLISTED)
        assert stale["outcome"] == "blocked" and _rules(stale) == ["registry.stale"]
        assert stale["earliest_callable_at"] is None

        # A fresh copy: cleared when not listed, blocked dnc.national when listed.
        fresh = await _import(c, gzip.compress(f"{LISTED}\n2125550126\n".encode()),
                              days_old=1, version="2026-fresh", now=now)
        assert fresh["state"] == "succeeded" and fresh["numbers"] == 2, fresh
        cleared = await _check(c, UNLISTED)
        assert cleared["outcome"] == "cleared", cleared["reasons"]
        fresh_note = next(r for r in cleared["reasons"] if r["rule_id"] == "registry.fresh")
        assert "2026-fresh" in fresh_note["text"]
        listed = await _check(c, LISTED)
        assert _rules(listed) == ["dnc.national"] and "copy 2026-fresh" in listed["reasons"][-1]["text"]
        # What-if: 31 days later the same copy is stale.
        later = (now + timedelta(days=31)).isoformat()
        assert _rules(await _check(c, UNLISTED, at=later)) == ["registry.stale"]

        # The worker's lead.due screening uses the same copy.
        await h.send("acme", "leads", lead_due("reg-1", LISTED))
        decided: list[dict[str, Any]] = []

        async def screened() -> bool:
            r = await c.get("/v1/leads/reg-1/decisions", headers=ACME)
            decided[:] = r.json()["items"] if r.status_code == 200 else []
            return bool(decided)

        await wait_for(screened, timeout_s=30, what="the lead.due decision")
        assert decided[0]["outcome"] == "blocked" and _rules(decided[0]) == ["dnc.national"]

        # Refused files: precise reason and line; the fresh copy stays in force.
        bad_cc = await _import(c, b"2125550127\n+12125550128\n+442071234567\n", days_old=0,
                               version="bad-cc", now=now)
        assert (bad_cc["state"], bad_cc["error_line"]) == ("failed", 3), bad_cc
        assert "outside country code +1" in bad_cc["error"] and "2071234567" not in bad_cc["error"]
        bad_line = await _import(c, b"+12125550127\n212,555012\n", days_old=0, version="bad-line",
                                 now=now)
        assert bad_line["error_line"] == 2 and "expected 'AAA,NNNNNNN'" in bad_line["error"]
        truncated = await _import(c, gzip.compress(b"+12125550127\n" * 5000)[:60], days_old=0,
                                  version="bad-gzip", now=now)
        assert truncated["state"] == "failed" and "gzip" in truncated["error"], truncated
        only_comments = await _import(c, b"# nothing\n\n", days_old=0, version="empty", now=now)
        assert only_comments["error"].endswith("the file holds no phone number")
        empty = await c.post("/v1/registries/US-DNC/imports", content=b"", headers=OPERATOR,
                             params={"version": "e", "downloaded_at": now.isoformat()})
        assert empty.status_code == 422 and "empty" in empty.json()["error"]["message"]
        future = await c.post("/v1/registries/US-DNC/imports", content=b"+12125550123\n",
                              headers=OPERATOR, params={
                                  "version": "f", "downloaded_at": (now + timedelta(days=1)).isoformat()})
        assert future.status_code == 422 and "future" in future.text
        naive = await c.post("/v1/registries/US-DNC/imports", content=b"+12125550123\n",
                             headers=OPERATOR, params={"version": "n", "downloaded_at": "2026-01-01T00:00"})
        assert naive.status_code == 422

        listing = {i["name"]: i for i in (await c.get("/v1/registries", headers=ACME)).json()["items"]}
        us = listing["US-DNC"]
        assert us["status"] == "fresh" and us["copy_in_force"]["version"] == "2026-fresh"
        assert us["copy_in_force"]["count"] == 2 and 0.9 < us["age_days"] < 1.1
        assert us["required_by"] == ["US"]
        assert _rules(await _check(c, LISTED)) == ["dnc.national"]
        assert not list((tmp_path / "registries" / "incoming").iterdir())

    # A restart rebuilds the index from the .npy file and the copies table.
    async with start_compliance(**settings, registry_upload_max_bytes=64) as h:
        c = h.client
        assert _rules(await _check(c, LISTED)) == ["dnc.national"]
        assert (await _check(c, UNLISTED))["outcome"] == "cleared"
        # A copy downloaded before the copy in force: refused; forced, kept as history only.
        older = await c.post("/v1/registries/US-DNC/imports", content=b"+12125550199\n",
                             headers=OPERATOR, params={"version": "older", "downloaded_at": (
                                 now - timedelta(days=2)).isoformat()})
        assert older.status_code == 422 and "before the copy in force '2026-fresh'" in older.text
        forced = await _import(c, b"+12125550199\n", days_old=2, version="older", now=now,
                               force=True)
        assert forced["state"] == "succeeded", forced
        assert (await _check(c, UNLISTED))["outcome"] == "cleared"  # 2026-fresh stays in force
        listing = {i["name"]: i for i in (await c.get("/v1/registries", headers=ACME)).json()["items"]}
        assert listing["US-DNC"]["copy_in_force"]["version"] == "2026-fresh"
        # National formats with trunk prefixes are stored as the right E.164 numbers.
        tps = await _import(c, b"01632960123\r\n+442079460000\r\n", days_old=0,
                            version="tps-1", name="GB-TPS", now=now)
        assert tps["state"] == "succeeded" and tps["numbers"] == 2, tps
        registries = shared_registries(h.svc.runtime)
        assert [hit.list_name for hit in registries.facts("+441632960123")[0]] == ["GB-TPS"]
        assert registries.facts("+4401632960123")[0] == []
        big = await c.post("/v1/registries/US-DNC/imports", content=b"+12125550123\n" * 10,
                           headers=OPERATOR, params={"version": "big", "downloaded_at": now.isoformat()})
        assert big.status_code == 413 and "64 bytes" in big.text
        assert not list((tmp_path / "registries" / "incoming").iterdir())
        # A job whose process stopped (no progress past the lease) is reported failed.
        async with h.svc.runtime.sessions() as session, session.begin():
            await session.execute(update(registry_imports).values(
                state="running", updated_at=now - timedelta(minutes=5)))
        stalled = (await c.get(f"/v1/registries/imports/{old['job_id']}", headers=OPERATOR)).json()
        assert stalled["state"] == "failed" and stalled["error"].startswith("interrupted")

        # Another process catches up in the background (screening meanwhile uses what it holds).
        other = NationalRegistries(tmp_path / "registries")
        async with h.svc.runtime.sessions() as session:
            await other.refresh(session, wait=False)

        async def caught_up() -> bool:
            return "US-DNC" in other.held()

        await wait_for(caught_up, timeout_s=10, what="the background rebuild")
        assert other.held()["US-DNC"].version == "2026-fresh"
        assert [h.version for h in other.facts(LISTED)[0]] == ["2026-fresh"]

        # Leftovers of stopped imports are swept when the next import starts.
        incoming = tmp_path / "registries" / "incoming"
        (incoming / f"{old['job_id']}.upload").write_bytes(b"x")  # its job is not live
        (incoming / f"{old['job_id']}.runs").mkdir()  # and its sorted runs
        (incoming / f"{old['job_id']}.runs" / "00000.run").write_bytes(b"x" * 8)
        (incoming / "uploading.upload").write_bytes(b"x")  # no job yet, fresh: kept
        crashed = incoming / "crashed.upload"  # no job, a day old: removed
        crashed.write_bytes(b"x")
        os.utime(crashed, (crashed.stat().st_mtime - 2 * 86400,) * 2)
        swept = await _import(c, b"+12125550123\n", days_old=0, version="sweeper", now=now)
        assert swept["state"] == "succeeded"
        assert [p.name for p in incoming.iterdir()] == ["uploading.upload"]

