"""``evaluate``: the pure screening function — request + policy + facts + instant → decision.

Every check runs (no short-circuit) so the record explains all the reasons at once. A
lead is cleared only when no reason blocks and the instant is open in every candidate
zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from compliance.domain import checks, windows
from compliance.domain.checks import Context
from compliance.domain.decision import Decision, Reason, ScreeningFacts, ScreeningRequest
from compliance.domain.effective import EffectivePolicy
from compliance.domain.policy import PolicyCatalog
from compliance.domain.zones import Location, locate

_CHECKS = (
    checks.coverage,
    checks.caller_id,
    checks.registries,
    checks.dnc,
    checks.consent,
    checks.emergencies,
    checks.attempt_caps,
    checks.redials,
    checks.refusals,
)


def screen(
    request: ScreeningRequest, catalog: PolicyCatalog, facts: ScreeningFacts, now: datetime
) -> Decision:
    """Locate the lead, merge the packs that apply to it and :func:`evaluate`."""
    location = locate(
        request.number, request.address, request.explicit_zone, request.lead_zones or ()
    )
    covered, uncovered = catalog.jurisdictions_for(location)
    policy = catalog.effective_policy(covered, request.tenant_id, request.campaign_id, uncovered)
    return evaluate(request, policy, facts, now, location)


def evaluate(
    request: ScreeningRequest,
    policy: EffectivePolicy,
    facts: ScreeningFacts,
    now: datetime,
    location: Location | None = None,
) -> Decision:
    """Decide whether ``request`` may be dialed at ``now`` (aware; converted to UTC).

    ``policy`` must be the effective policy of the lead's jurisdictions (see
    :meth:`PolicyCatalog.jurisdictions_for`); ``location`` is recomputed when omitted.
    Raises ``ValueError`` for a naive ``now`` and the typed errors of
    :func:`~compliance.domain.zones.locate` for bad numbers, regions or zones.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (UTC)")
    now = now.astimezone(UTC)
    location = location or locate(
        request.number, request.address, request.explicit_zone, request.lead_zones or ()
    )
    ctx = Context(request=request, policy=policy, facts=facts, location=location, now=now)
    reasons: list[Reason] = [r for check in _CHECKS for r in check(ctx)]
    zones = location.zone_names
    if location.zones:
        reasons += _hours(ctx, zones)
    blocks = [r for r in reasons if r.effect == "block"]
    valid_until = earliest = None
    if blocks:
        earliest = _earliest_callable(ctx, zones, blocks)
    else:
        limits = [r.until for r in reasons if r.until is not None]
        limits += filter(None, [windows.next_close(policy, zones, now)])
        valid_until = min(limits, default=None)
    return Decision(
        outcome="blocked" if blocks else "cleared",
        decided_at=now,
        tenant_id=request.tenant_id,
        campaign_id=request.campaign_id,
        lead_id=request.lead_id,
        number_masked=location.number.masked,
        policy_version=policy.version,
        packs=[p.model_dump() for p in policy.packs],
        jurisdictions=policy.jurisdictions,
        zones=location.zones,
        inputs=_inputs(ctx),
        reasons=reasons,
        valid_until=valid_until,
        earliest_callable_at=earliest,
    )


def _hours(ctx: Context, zones: list[str]) -> list[Reason]:
    closed = [
        (z, why)
        for z in zones
        if (why := windows.closed_reason(ctx.policy, z, ctx.now)) is not None
    ]
    if not closed:
        return []
    reopen = windows.next_open(ctx.policy, zones, ctx.now)
    return [
        Reason(
            rule_id="hours.closed",
            effect="block",
            source=",".join(ctx.policy.hours_sources) or "policy",
            until=reopen,
            permanent=reopen is None,
            text="; ".join(why for _, why in closed),
        )
    ]


def _earliest_callable(ctx: Context, zones: list[str], blocks: list[Reason]) -> datetime | None:
    """Next instant all windows are open after every temporary block has lifted.

    A lower bound: facts that change meanwhile (a new attempt, a stale registry copy) are
    judged by the next screening.
    """
    if any(r.permanent or r.until is None for r in blocks):
        return None
    after = max(r.until for r in blocks if r.until is not None)
    return windows.next_open(ctx.policy, zones, max(after, ctx.now))


def _inputs(ctx: Context) -> dict[str, Any]:
    req, facts = ctx.request, ctx.facts
    return {
        "number": ctx.location.number.model_dump(exclude={"masked"}),
        "address": req.address.model_dump(),
        "explicit_zone": req.explicit_zone,
        "lists": [h.model_dump(mode="json") for h in facts.dnc_hits],
        "registries": [c.model_dump(mode="json") for c in facts.registry_copies],
        "counters": ctx.counters,
        "flags": {"agent_guaranteed": req.agent_guaranteed, "caller_id": req.caller_id is not None},
        "subject": req.subject,
        "product": req.product,
    }
