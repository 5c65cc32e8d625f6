"""The individual rule checks; each returns the reasons it fired.

A check never reads the clock: ``Context.now`` is the dialing instant (aware, UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from compliance.domain.decision import (
    Attempt,
    Reason,
    Refusal,
    ScreeningFacts,
    ScreeningRequest,
)
from compliance.domain.effective import EffectivePolicy, SourcedRegistry
from compliance.domain.pack_schema import CapScope, RefusalScope
from compliance.domain.periods import Period, local_midnight
from compliance.domain.zones import Location, zone_info


@dataclass(frozen=True)
class Context:
    """One screening: request, merged policy, facts, location and the dialing instant."""

    request: ScreeningRequest
    policy: EffectivePolicy
    facts: ScreeningFacts
    location: Location
    now: datetime
    counters: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def tzs(self) -> list[ZoneInfo]:
        """Candidate zones (UTC when there are none, so date arithmetic still works)."""
        return [zone_info(z) for z in self.location.zone_names] or [ZoneInfo("UTC")]

    def latest_end(self, period: Period, start: datetime) -> datetime:
        """When ``period`` begun at ``start`` has elapsed in every candidate zone."""
        return max(period.after(start, tz) for tz in self.tzs)


def coverage(ctx: Context) -> list[Reason]:
    """Fail closed on a country without a pack and on a location without zones."""
    out = [
        Reason(
            rule_id="coverage.uncovered",
            effect="block",
            source="catalog",
            text=f"no policy pack covers jurisdiction {code}",
        )
        for code in ctx.policy.uncovered
    ]
    number = ctx.location.number
    if ctx.request.lead_zones is not None and not ctx.request.lead_zones:
        out.append(
            Reason(
                rule_id="zone.unknown",
                effect="block",
                source="rules",
                text="the lead record carries no candidate time zone (fail closed)",
            )
        )
    explicit = any(z.source == "explicit" for z in ctx.location.zones)
    if number.kind == "non_geographic" and not explicit:
        out.append(
            Reason(
                rule_id="zone.non_geographic",
                effect="block",
                source="rules",
                text=f"{number.number_type} number has no location and the lead no explicit zone",
            )
        )
    elif not ctx.location.zones and ctx.request.lead_zones != []:
        out.append(
            Reason(
                rule_id="zone.unknown",
                effect="block",
                source="rules",
                text="no candidate time zone from number, address or lead",
            )
        )
    return out


def caller_id(ctx: Context) -> list[Reason]:
    """Caller ID must be transmitted where a pack requires it."""
    if ctx.policy.caller_id_required and not ctx.request.caller_id:
        return [
            Reason(
                rule_id="caller_id.missing",
                effect="block",
                source="policy",
                text="no caller ID that accepts DNC requests is configured",
            )
        ]
    return []


def registries(ctx: Context) -> list[Reason]:
    """Each required national registry needs a copy younger than its ``max_age``."""
    out: list[Reason] = []
    for name in sorted({r.name for r in ctx.policy.registries}):
        entries = [r for r in ctx.policy.registries if r.name == name]
        copies = sorted(
            (c for c in ctx.facts.registry_copies if c.name == name), key=lambda c: c.downloaded_at
        )
        if not copies and name in ctx.facts.waived_registries:
            out.append(
                Reason(
                    rule_id="registry.waived",
                    effect="note",
                    source=entries[0].source,
                    text=f"no imported copy of registry {name}; waived by configuration",
                )
            )
            continue
        if not copies:
            out.append(
                Reason(
                    rule_id="registry.missing",
                    effect="block",
                    source=entries[0].source,
                    text=f"no imported copy of registry {name}",
                )
            )
            continue
        copy = copies[-1]
        limits = [
            (e.max_age.after(copy.downloaded_at, ZoneInfo("UTC")), e.source, e.max_age.label())
            for e in entries
            if e.max_age
        ]
        if not limits:
            continue
        deadline, source, max_age = min(limits)
        age_days = (ctx.now - copy.downloaded_at) / timedelta(days=1)
        if ctx.now >= deadline:
            out.append(
                Reason(
                    rule_id="registry.stale",
                    effect="block",
                    source=source,
                    text=f"{name} copy {copy.version} is {age_days:.1f} days old; "
                    f"{source} allows less than {max_age}",
                )
            )
        else:
            out.append(
                Reason(
                    rule_id="registry.fresh",
                    effect="note",
                    source=source,
                    until=deadline,
                    text=f"{name} copy {copy.version} usable until {deadline.isoformat()}",
                )
            )
    return out


def dnc(ctx: Context) -> list[Reason]:
    """Company lists block at once and for good; registry hits unless an EBR exempts them."""
    out: list[Reason] = []
    internal = [h for h in ctx.facts.dnc_hits if h.kind != "national"]
    for hit in internal:
        out.append(
            Reason(
                rule_id=f"dnc.{hit.kind}",
                effect="block",
                source=hit.list_name,
                permanent=True,
                text=f"on {hit.kind} do-not-call list {hit.list_name} (version {hit.version})",
            )
        )
    for hit in (h for h in ctx.facts.dnc_hits if h.kind == "national"):
        entries = [r for r in ctx.policy.registries if r.name == hit.list_name]
        ebr_until = None if internal else _ebr_until(ctx, entries)
        if ebr_until is not None and ebr_until > ctx.now:
            out.append(
                Reason(
                    rule_id="dnc.ebr_exemption",
                    effect="allow",
                    source=entries[0].source,
                    until=ebr_until,
                    text=f"registered on {hit.list_name} but an established business "
                    f"relationship exempts the call until {ebr_until.isoformat()}",
                )
            )
        else:
            out.append(
                Reason(
                    rule_id="dnc.national",
                    effect="block",
                    permanent=True,
                    source=entries[0].source if entries else hit.list_name,
                    text=f"registered on national registry {hit.list_name} (copy {hit.version})",
                )
            )
    return out


def _ebr_until(ctx: Context, entries: list[SourcedRegistry]) -> datetime | None:
    """End of the EBR exemption, only if every pack requiring the registry grants one."""
    if not entries or any(e.ebr_exemption is None for e in entries):
        return None
    ends: list[datetime] = []
    for rel in ctx.facts.relationships:
        if rel.seller != ctx.request.tenant_id or rel.at > ctx.now:
            continue
        periods = [
            e.ebr_exemption.after_purchase
            if rel.kind == "purchase"
            else e.ebr_exemption.after_inquiry
            for e in entries
            if e.ebr_exemption is not None
        ]
        ends.append(min(ctx.latest_end(p, rel.at) for p in periods))
    return max(ends, default=None)


def consent(ctx: Context) -> list[Reason]:
    """Where a campaign requires consent: an unrevoked grant not predating a reassignment."""
    if not ctx.policy.requires_consent:
        return []
    grants = [
        c
        for c in ctx.facts.consents
        if c.seller == ctx.request.tenant_id
        and c.number == ctx.request.number
        and c.granted_at <= ctx.now
        and (c.revoked_at is None or c.revoked_at > ctx.now)
    ]
    disconnected = ctx.facts.disconnected_at
    valid = [c for c in grants if disconnected is None or disconnected <= c.granted_at]
    if valid:
        return [
            Reason(
                rule_id="consent.present",
                effect="allow",
                source="policy",
                text=f"consent granted {max(c.granted_at for c in valid).isoformat()}",
            )
        ]
    if grants:
        return [
            Reason(
                rule_id="consent.reassigned",
                effect="block",
                source="policy",
                text="number was disconnected after the consent was given (reassigned)",
            )
        ]
    return [
        Reason(
            rule_id="consent.missing",
            effect="block",
            source="policy",
            text="campaign requires consent and none is recorded for this number",
        )
    ]


def emergencies(ctx: Context) -> list[Reason]:
    """No calls during a declared state of emergency where a pack says so."""
    return [
        Reason(
            rule_id="emergency.declared",
            effect="block",
            source=e.jurisdiction,
            until=e.lifted_at,
            text=f"state of emergency declared in {e.jurisdiction} on {e.declared_at:%Y-%m-%d}",
        )
        for e in ctx.facts.emergencies
        if e.jurisdiction in ctx.policy.emergency_jurisdictions
        and e.declared_at <= ctx.now
        and (e.lifted_at is None or e.lifted_at > ctx.now)
    ]


def attempt_caps(ctx: Context) -> list[Reason]:
    """Rolling-window caps: an attempt counts while its window has not elapsed."""
    out: list[Reason] = []
    for cap in ctx.policy.attempt_caps:
        counted = sorted(
            (
                a
                for a in ctx.facts.attempts
                if a.channel in cap.channels
                and _in_scope(cap.scope, a, ctx.request)
                and ctx.latest_end(cap.window, a.at) > ctx.now
            ),
            key=lambda a: a.at,
        )
        ctx.counters[f"cap.{cap.id}"] = {
            "count": len(counted),
            "max": cap.max_attempts,
            "window": cap.window.label(),
        }
        if len(counted) >= cap.max_attempts:
            # Callable again once enough attempts age out to leave max - 1 in the window.
            until = ctx.latest_end(cap.window, counted[len(counted) - cap.max_attempts].at)
            out.append(
                Reason(
                    rule_id=f"cap.{cap.id}",
                    effect="block",
                    source=cap.source,
                    until=until,
                    text=f"{len(counted)} attempts in {cap.window.label()}, "
                    f"at most {cap.max_attempts} allowed",
                )
            )
    return out


def redials(ctx: Context) -> list[Reason]:
    """After an abandoned or machine-answered attempt, wait (unless an agent is guaranteed)."""
    out: list[Reason] = []
    for rule in ctx.policy.redial_rules:
        if rule.unless_agent_guaranteed and ctx.request.agent_guaranteed:
            continue
        for a in ctx.facts.attempts:
            if a.outcome != rule.after_outcome or a.number != ctx.request.number:
                continue
            if a.seller != ctx.request.tenant_id:
                continue
            ends = [ctx.latest_end(rule.min_gap, a.at)] if rule.min_gap else []
            if rule.not_same_local_day:
                ends += [
                    local_midnight(a.at.astimezone(tz).date() + timedelta(days=1), tz)
                    for tz in ctx.tzs
                ]
            until = max(ends)
            if until > ctx.now:
                out.append(
                    Reason(
                        rule_id=f"redial.{rule.id}",
                        effect="block",
                        source=rule.source,
                        until=until.astimezone(UTC),
                        text=f"attempt at {a.at.isoformat()} ended {a.outcome}; "
                        f"no automated redial before {until.astimezone(UTC).isoformat()}",
                    )
                )
    return out


def refusals(ctx: Context) -> list[Reason]:
    """Re-solicitation bans after a refusal, permanent or for a duration."""
    out: list[Reason] = []
    for ban in ctx.policy.refusal_bans:
        for r in ctx.facts.refusals:
            if r.at > ctx.now or not _refusal_in_scope(ban.scope, r, ctx.request):
                continue
            if ban.duration is None:
                out.append(
                    Reason(
                        rule_id=f"refusal.{ban.id}",
                        effect="block",
                        source=ban.source,
                        permanent=True,
                        text=f"refused on {r.at:%Y-%m-%d}; re-solicitation banned permanently",
                    )
                )
                continue
            until = ctx.latest_end(ban.duration, r.at)
            if until > ctx.now:
                out.append(
                    Reason(
                        rule_id=f"refusal.{ban.id}",
                        effect="block",
                        source=ban.source,
                        until=until,
                        text=f"refused on {r.at:%Y-%m-%d}; no call for {ban.duration.label()}",
                    )
                )
    return out


def _in_scope(scope: list[CapScope], a: Attempt, req: ScreeningRequest) -> bool:
    # An unknown subject on the request matches every subject: counting more is stricter.
    return (
        ("seller" not in scope or a.seller == req.tenant_id)
        and ("person" not in scope or a.person_key == req.person)
        and ("number" not in scope or a.number == req.number)
        and ("subject" not in scope or req.subject is None or a.subject == req.subject)
    )


def _refusal_in_scope(scope: list[RefusalScope], r: Refusal, req: ScreeningRequest) -> bool:
    return (
        ("seller" not in scope or r.seller == req.tenant_id)
        and ("person" not in scope or r.person_key == req.person)
        and ("number" not in scope or r.number == req.number)
        and ("product" not in scope or req.product is None or r.product == req.product)
    )
