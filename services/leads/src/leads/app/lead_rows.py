"""Mapping between a row of the ``leads`` table and the domain :class:`Lead`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from leads.domain.lead import Lead, LeadStatus


def lead_from_row(row: RowMapping) -> Lead:
    """The domain state stored in a ``leads`` row."""
    return Lead(
        status=LeadStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        next_reason=row["next_reason"],
        campaign_id=row["campaign_id"],
        due_attempt=row["due_attempt"],
        last_call_id=row["last_call_id"],
        last_outcome=row["last_outcome"],
        last_disposition=row["last_disposition"],
        closed_reason=row["closed_reason"],
    )


def lead_values(lead: Lead) -> dict[str, Any]:
    """The column values that store ``lead``'s state."""
    return {
        "status": lead.status.value,
        "attempts": lead.attempts,
        "next_attempt_at": lead.next_attempt_at,
        "next_reason": lead.next_reason,
        "campaign_id": lead.campaign_id,
        "due_attempt": lead.due_attempt,
        "last_call_id": lead.last_call_id,
        "last_outcome": lead.last_outcome,
        "last_disposition": lead.last_disposition,
        "closed_reason": lead.closed_reason,
    }
