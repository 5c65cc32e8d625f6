"""``GET /v1/decisions/export``: the tenant's decision records for a period, streamed.

Rows are read in pages of ``_PAGE`` by keyset on ``(decided_at, decision_id)``
(``ix_decisions_time``), each page in its own short transaction, and written out as they
come: memory stays constant whatever the period holds. The export is the tenant's own
audit trail, so it carries full phone numbers (``phone_e164``); it is a download, never a
log line.

Completeness. ``to`` is capped at now − ``export_settle_s`` (60 s): a decision is stamped
``decided_at`` before its transaction commits, so a row with an earlier ``decided_at`` can
still appear for a few moments after a page has passed that instant; the capped period
only holds committed history (``X-Export-From`` / ``X-Export-To`` give the period served).
A JSONL export ends with the trailer line ``{"export":"complete","rows":N,...}``; an error
while streaming (database lost mid-way) aborts the transfer (the chunked body never
terminates: the client sees a broken download, never a clean end) and JSONL has no
trailer. A CSV export is complete when its transfer completes.
"""

from __future__ import annotations

import csv
import io
import json
import logging
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
from common.pii import mask_phones_in_text
from compliance.adapters.db import decisions
from compliance.settings import ComplianceSettings

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/decisions", tags=["compliance"])

Reader = Annotated[Principal, Depends(require_scopes("compliance:read"))]
_PAGE = 1000
CSV_COLUMNS = (
    "decided_at", "decision_id", "lead_id", "list_id", "campaign_id", "attempt", "outcome",
    "phone_e164", "policy_version", "blocking_rules", "earliest_callable_at", "valid_until",
    "jurisdictions", "zones", "reasons",
)
# Instants accepted for ``from`` / ``to``: none before this, none past a year from now.
EXPORT_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_AHEAD = timedelta(days=366)
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


async def _body(pages: AsyncIterator[Sequence[Row[Any]]], fmt: str, start: datetime,
                end: datetime) -> AsyncIterator[str]:
    """The export text; an error while reading re-raises (the transfer is aborted)."""
    try:
        async for chunk in _chunks(pages, fmt, start, end):
            yield chunk
    except Exception as exc:
        log.error("decisions export aborted mid-stream: %s",
                  mask_phones_in_text(f"{type(exc).__name__}: {exc}"))
        raise


async def _chunks(pages: AsyncIterator[Sequence[Row[Any]]], fmt: str, start: datetime,
                  end: datetime) -> AsyncIterator[str]:
    rows = 0
    if fmt == "jsonl":
        async for page in pages:
            rows += len(page)
            yield "".join(_jsonl(r) for r in page)
        yield json.dumps({"export": "complete", "rows": rows, "from": start.isoformat(),
                          "to": end.isoformat()}, separators=(",", ":")) + "\n"
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    async for page in pages:
        writer.writerows(_csv_row(r) for r in page)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _period(start: datetime, end: datetime, now: datetime, settings: ComplianceSettings
            ) -> tuple[datetime, datetime]:
    """``(from, to)`` in UTC, ``to`` capped at now − ``export_settle_s``; 422 when out of
    range, empty or too long."""
    latest = now + _MAX_AHEAD
    for name, value in (("from", start), ("to", end)):
        if not EXPORT_EPOCH <= value <= latest:  # compares without converting: no overflow
            raise Unprocessable(f"'{name}' ({value.isoformat()}) must be between "
                                f"{EXPORT_EPOCH.isoformat()} and {latest.isoformat()}")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start >= end:
        raise Unprocessable(f"'from' ({start.isoformat()}) must be before 'to' ({end.isoformat()})")
    if end - start > timedelta(days=settings.export_max_days):
        raise Unprocessable(f"the period spans {(end - start) / timedelta(days=1):.1f} days; "
                            f"at most {settings.export_max_days} per export")
    settled = now - timedelta(seconds=settings.export_settle_s)
    if start >= settled:
        raise Unprocessable(f"'from' ({start.isoformat()}) must be before {settled.isoformat()}: "
                            f"the last {settings.export_settle_s:g} s are not exported yet "
                            "(transactions still committing)")
    return start, min(end, settled)


@router.get("/export", response_class=StreamingResponse, responses={
    200: {"content": {"application/x-ndjson": {}, "text/csv": {}},
          "description": "one decision per line (JSONL) or row (CSV), oldest first"},
    422: {"description": "`from`/`to` before 1970 or over a year ahead, `from` not before "
                 "`to` or within the last export_settle_s, or a period longer than "
                 "export_max_days"}})
async def export_decisions(
    principal: Reader, runtime: RuntimeDep,
    start: Annotated[AwareDatetime, Query(alias="from", description="inclusive (RFC 3339)")],
    end: Annotated[AwareDatetime, Query(alias="to", description="exclusive (RFC 3339)")],
    fmt: Annotated[Literal["jsonl", "csv"], Query(alias="format")] = "jsonl",
) -> StreamingResponse:
    """The tenant's decisions with ``from <= decided_at < to``, streamed, full numbers
    (``to`` capped at now − ``export_settle_s``)."""
    settings = runtime.settings
    assert isinstance(settings, ComplianceSettings), "SPEC.settings_cls is ComplianceSettings"
    start, end = _period(start, end, runtime.clock.now(), settings)
    name = f"decisions-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.{fmt}"
    return StreamingResponse(
        _body(_pages(runtime, principal.tenant_id, start, end), fmt, start, end),
        media_type=_MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "X-Export-From": start.isoformat(), "X-Export-To": end.isoformat()})
