"""Helpers of the facts integration tests (importable: conftest puts this folder on
sys.path): decisions read over HTTP (the ``compliance`` topic also carries budget and
consent events), and waiting for read-model rows."""

from __future__ import annotations

from typing import Any

from compliance_it import Harness
from sqlalchemy import Table, func, select

from common.testing.services import bearer, wait_for


async def decided(h: Harness, tenant: str, lead_id: str, count: int = 1) -> dict[str, Any]:
    """The lead's newest decision record once ``count`` are stored."""
    items: list[dict[str, Any]] = []

    async def stored() -> bool:
        r = await h.client.get(f"/v1/leads/{lead_id}/decisions", headers=bearer(tenant))
        items[:] = r.json()["items"] if r.status_code == 200 else []
        return len(items) >= count

    await wait_for(stored, timeout_s=30, what=f"{count} decision(s) for {lead_id}")
    return items[0]


async def rows(h: Harness, table: Table, tenant: str, count: int) -> None:
    """Wait until ``table`` holds ``count`` rows of ``tenant`` (a consumer caught up)."""
    async def enough() -> bool:
        async with h.svc.runtime.sessions() as s:
            n = (await s.execute(select(func.count()).select_from(table)
                                 .where(table.c.tenant_id == tenant))).scalar_one()
        return int(n) >= count

    await wait_for(enough, timeout_s=30, what=f"{count} {table.name} rows of {tenant}")


def blocking(d: dict[str, Any]) -> list[str]:
    """Rule ids of a decision record's blocking reasons."""
    return [r["rule_id"] for r in d["reasons"] if r["effect"] == "block"]
