"""``GET /v1/decisions/export``: the tenant's decision records for a period, streamed.

Rows are read in pages of ``_PAGE`` by keyset on ``(decided_at, decision_id)``
(``ix_decisions_time``), each page in its own short transaction, and written out as they
come: memory stays constant whatever the period holds. The export is the tenant's own
audit trail, so it carries full phone numbers (``phone_e164``); it is a download, never a
log line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime
from sqlalchemy import Row, and_, or_, select

from common.app import RuntimeDep, ServiceRuntime
from common.auth import Principal, require_scopes
from common.errors import Unprocessable
from compliance.adapters.db import decisions
from compliance.settings import ComplianceSettings

router = APIRouter(prefix="/v1/decisions", tags=["compliance"])

Reader = Annotated[Principal, Depends(require_scopes("compliance:read"))]
_PAGE = 1000
CSV_COLUMNS = (
    "decided_at", "decision_id", "lead_id", "list_id", "campaign_id", "attempt", "outcome",
    "phone_e164", "policy_version", "blocking_rules", "earliest_callable_at", "valid_until",
    "jurisdictions", "zones", "reasons",
)
_MEDIA = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


async def _pages(runtime: ServiceRuntime, tenant_id: str, start: datetime, end: datetime
                 ) -> AsyncIterator[Sequence[Row[Any]]]:
    """Pages of the tenant's decisions with ``start <= decided_at < end``, in time order."""
    cols = decisions.c
    after: tuple[datetime, str] | None = None
    while True:
        query = (select(cols.decided_at, cols.decision_id, cols.lead_id, cols.list_id,
                        cols.campaign_id, cols.attempt, cols.outcome, cols.phone_e164,
                        cols.payload)
                 .where(cols.tenant_id == tenant_id, cols.decided_at >= start,
                        cols.decided_at < end)
                 .order_by(cols.decided_at, cols.decision_id).limit(_PAGE))
        if after is not None:
            query = query.where(or_(cols.decided_at > after[0],
                                    and_(cols.decided_at == after[0],
                                         cols.decision_id > after[1])))
        async with runtime.sessions() as session:
            rows = (await session.execute(query)).all()
        if rows:
            yield rows
        if len(rows) < _PAGE:
            return
        after = (rows[-1].decided_at, rows[-1].decision_id)


def _jsonl(row: Row[Any]) -> str:
    record = {**row.payload, "decision_id": row.decision_id, "phone_e164": row.phone_e164,
              "decided_at": row.decided_at.isoformat()}
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def _csv_row(row: Row[Any]) -> list[Any]:
    p = row.payload
    reasons = p.get("reasons", [])
    return [row.decided_at.isoformat(), row.decision_id, row.lead_id, row.list_id,
            row.campaign_id, row.attempt, row.outcome, row.phone_e164,
            p.get("policy_version", ""),
            ";".join(r["rule_id"] for r in reasons if r.get("effect") == "block"),
            p.get("earliest_callable_at") or "", p.get("valid_until") or "",
            ";".join(p.get("jurisdictions", [])),
            ";".join(f"{z['zone']}({z['source']})" for z in p.get("zones", [])),
            json.dumps(reasons, ensure_ascii=False, separators=(",", ":"))]


async def _body(pages: AsyncIterator[Sequence[Row[Any]]], fmt: str) -> AsyncIterator[str]:
    if fmt == "jsonl":
        async for rows in pages:
            yield "".join(_jsonl(r) for r in rows)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    async for rows in pages:
        writer.writerows(_csv_row(r) for r in rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


@router.get("/export", response_class=StreamingResponse, responses={
    200: {"content": {"application/x-ndjson": {}, "text/csv": {}},
          "description": "one decision per line (JSONL) or row (CSV), oldest first"},
    422: {"description": "`from` not before `to`, or a period longer than export_max_days"}})
async def export_decisions(
    principal: Reader, runtime: RuntimeDep,
    start: Annotated[AwareDatetime, Query(alias="from", description="inclusive (RFC 3339)")],
    end: Annotated[AwareDatetime, Query(alias="to", description="exclusive (RFC 3339)")],
    fmt: Annotated[Literal["jsonl", "csv"], Query(alias="format")] = "jsonl",
) -> StreamingResponse:
    """The tenant's decisions with ``from <= decided_at < to``, streamed, full numbers."""
    settings = runtime.settings
    assert isinstance(settings, ComplianceSettings), "SPEC.settings_cls is ComplianceSettings"
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start >= end:
        raise Unprocessable(f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()})")
    if end - start > timedelta(days=settings.export_max_days):
        raise Unprocessable(f"the period spans {(end - start) / timedelta(days=1):.1f} days; "
                            f"at most {settings.export_max_days} per export")
    name = f"decisions-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.{fmt}"
    return StreamingResponse(
        _body(_pages(runtime, principal.tenant_id, start, end), fmt), media_type=_MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'})
