"""Overlay validation: a tenant or campaign pack may only tighten the law it overlays.

The merge is monotone, so a loosening overlay would have no effect anyway; refusing it
tells the author precisely which field they believed they were relaxing.
"""

from __future__ import annotations

from compliance.domain.effective import (
    CallableWindow,
    EffectivePolicy,
    intersect_windows,
    pack_hours,
)
from compliance.domain.pack_schema import WEEKDAYS, PolicyPack
from compliance.domain.periods import Period


def loosening_problems(overlay: PolicyPack, base: EffectivePolicy, base_name: str) -> list[str]:
    """Every way ``overlay`` is looser than ``base`` (empty when it only tightens)."""
    problems: list[str] = []
    problems += _hours_problems(overlay, base, base_name)
    problems += _rule_problems(overlay, base, base_name)
    if base.internal_dnc is not None and overlay.internal_dnc is not None:
        own, theirs = overlay.internal_dnc.legal_deadline, base.internal_dnc.legal_deadline
        if own is not None and (theirs is None or _longer(own, theirs)):
            problems.append(f"internal_dnc.legal_deadline: longer than {base_name}")
        if _longer(base.internal_dnc.retention, overlay.internal_dnc.retention):
            problems.append(f"internal_dnc.retention: shorter than {base_name}")
    for budget in base.abandonment:
        mine = overlay.abandonment
        if mine is None:
            continue
        if mine.max_rate > budget.max_rate:
            problems.append(
                f"abandonment.max_rate: {mine.max_rate} exceeds {budget.max_rate} "
                f"of {budget.source}"
            )
        if mine.connect_within_s > budget.connect_within_s:
            problems.append(f"abandonment.connect_within_s: longer than {budget.source}")
        if budget.min_ring_s and (mine.min_ring_s or 0) < budget.min_ring_s:
            problems.append(f"abandonment.min_ring_s: shorter than {budget.source}")
    return problems


def _hours_problems(overlay: PolicyPack, base: EffectivePolicy, base_name: str) -> list[str]:
    mine = pack_hours(overlay)
    if mine is None or base.hours is None:
        return []
    problems = []
    for day in WEEKDAYS:
        own = mine.get(day, [])
        allowed = base.hours.get(day, [])
        if intersect_windows(own, allowed) != own:
            problems.append(
                f"calling_hours {day}: {_fmt(own)} is not within {_fmt(allowed)} of {base_name}"
            )
    return problems


def _rule_problems(overlay: PolicyPack, base: EffectivePolicy, base_name: str) -> list[str]:
    problems: list[str] = []
    for cap in overlay.attempt_caps:
        for b in (c for c in base.attempt_caps if c.id == cap.id):
            if cap.max_attempts > b.max_attempts or _longer(b.window, cap.window):
                problems.append(
                    f"attempt_caps[{cap.id}]: {cap.max_attempts}/{cap.window.label()} is looser "
                    f"than {b.max_attempts}/{b.window.label()} of {b.source}"
                )
            if not set(cap.scope) <= set(b.scope) or not set(b.channels) <= set(cap.channels):
                problems.append(f"attempt_caps[{cap.id}]: scope or channels count fewer attempts")
    for ban in overlay.refusal_bans:
        for rb in (r for r in base.refusal_bans if r.id == ban.id):
            shorter = (rb.duration is None and ban.duration is not None) or (
                rb.duration is not None
                and ban.duration is not None
                and _longer(rb.duration, ban.duration)
            )
            if shorter or not set(ban.scope) <= set(rb.scope):
                problems.append(f"refusal_bans[{ban.id}]: shorter or narrower than {rb.source}")
    for redial in overlay.redial_rules:
        for rr in (r for r in base.redial_rules if r.id == redial.id):
            gap_shorter = rr.min_gap is not None and (
                redial.min_gap is None or _longer(rr.min_gap, redial.min_gap)
            )
            if (
                gap_shorter
                or (rr.not_same_local_day and not redial.not_same_local_day)
                or (redial.unless_agent_guaranteed and not rr.unless_agent_guaranteed)
            ):
                problems.append(f"redial_rules[{redial.id}]: looser than {rr.source}")
    for reg in overlay.registries:
        for br in (r for r in base.registries if r.name == reg.name):
            if br.max_age is not None and (reg.max_age is None or _longer(reg.max_age, br.max_age)):
                problems.append(f"registries[{reg.name}].max_age: longer than {br.source}")
            if reg.ebr_exemption is not None and (
                br.ebr_exemption is None
                or _longer(reg.ebr_exemption.after_purchase, br.ebr_exemption.after_purchase)
                or _longer(reg.ebr_exemption.after_inquiry, br.ebr_exemption.after_inquiry)
            ):
                problems.append(f"registries[{reg.name}].ebr_exemption: wider than {br.source}")
    if problems:
        problems = [f"{p} (base {base_name})" if base_name not in p else p for p in problems]
    return problems


def _longer(a: Period, b: Period) -> bool:
    return a.sort_key() > b.sort_key()


def _fmt(windows: list[CallableWindow]) -> str:
    return ", ".join(w.label() for w in windows) or "closed"
