"""The effective policy of one lead: the monotone merge of every pack that applies.

Merging never loosens: calling hours intersect, bans and rules accumulate, the
strictest value of a scalar wins. The content hash of the merged policy is its version.
"""

from __future__ import annotations

import hashlib
import json
from datetime import time

from pydantic import BaseModel, ConfigDict

from compliance.domain.pack_schema import (
    WEEKDAYS,
    Abandonment,
    AttemptCap,
    HolidayCalendar,
    InternalDnc,
    PolicyPack,
    RedialRule,
    RefusalBan,
    Registry,
    Weekday,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallableWindow(_Frozen):
    """A half-open local-time window ``start <= t < end``."""

    start: time
    end: time

    def label(self) -> str:
        """``HH:MM–HH:MM``."""
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


class PackRef(_Frozen):
    """A pack that contributed to an effective policy, with its own content digest."""

    id: str
    version: str
    digest: str


class SourcedCap(AttemptCap):
    """An attempt cap and the pack it came from."""

    source: str


class SourcedRedial(RedialRule):
    """A redial rule and the pack it came from."""

    source: str


class SourcedRefusalBan(RefusalBan):
    """A re-solicitation ban and the pack it came from."""

    source: str


class SourcedRegistry(Registry):
    """A national registry requirement and the pack it came from."""

    source: str


class SourcedAbandonment(Abandonment):
    """An abandon-rate budget and the pack it came from."""

    source: str


class SourcedCalendar(HolidayCalendar):
    """A holiday calendar and the pack that bans calls on its days."""

    source: str


class EffectivePolicy(_Frozen):
    """Merged rules for one lead. ``hours`` is None when no pack limits the hours;
    a weekday missing from ``hours`` is closed all day."""

    jurisdictions: list[str]
    uncovered: list[str]
    packs: list[PackRef]
    hours: dict[Weekday, list[CallableWindow]] | None
    hours_sources: list[str]
    weekday_bans: dict[Weekday, list[str]]
    holidays: list[SourcedCalendar]
    emergency_jurisdictions: list[str]
    attempt_caps: list[SourcedCap]
    redial_rules: list[SourcedRedial]
    refusal_bans: list[SourcedRefusalBan]
    registries: list[SourcedRegistry]
    internal_dnc: InternalDnc | None
    abandonment: list[SourcedAbandonment]
    caller_id_required: bool
    requires_consent: bool

    @property
    def version(self) -> str:
        """Content hash ``sha256:<hex>`` of the merged rules (not of the pack list)."""
        content = self.model_dump(mode="json", exclude={"packs"})
        return "sha256:" + canonical_digest(content)


def canonical_digest(content: object) -> str:
    """SHA-256 hex digest of the canonical JSON form (sorted keys, no spaces)."""
    raw = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def pack_digest(pack: PolicyPack) -> str:
    """Content digest of one pack, as loaded (after validation)."""
    return canonical_digest(pack.model_dump(mode="json", by_alias=True))


def intersect_windows(
    left: list[CallableWindow], right: list[CallableWindow]
) -> list[CallableWindow]:
    """Intersection of two unions of half-open windows, as sorted disjoint windows."""
    out: list[CallableWindow] = []
    for a in left:
        for b in right:
            start, end = max(a.start, b.start), min(a.end, b.end)
            if start < end:
                out.append(CallableWindow(start=start, end=end))
    return normalise_windows(out)


def normalise_windows(windows: list[CallableWindow]) -> list[CallableWindow]:
    """Sort and merge overlapping or touching windows."""
    merged: list[CallableWindow] = []
    for w in sorted(windows, key=lambda w: (w.start, w.end)):
        if merged and w.start <= merged[-1].end:
            last = merged.pop()
            w = CallableWindow(start=last.start, end=max(last.end, w.end))
        merged.append(w)
    return merged


def pack_hours(pack: PolicyPack) -> dict[Weekday, list[CallableWindow]] | None:
    """The pack's calling hours as a per-weekday union of windows (None: unrestricted)."""
    if pack.calling_hours is None:
        return None
    days: dict[Weekday, list[CallableWindow]] = {d: [] for d in WEEKDAYS}
    for w in pack.calling_hours.windows:
        for d in w.days:
            days[d].append(CallableWindow(start=w.start, end=w.end))
    return {d: normalise_windows(ws) for d, ws in days.items() if ws}


def merge(
    packs: list[tuple[PolicyPack, str]], jurisdictions: list[str], uncovered: list[str]
) -> EffectivePolicy:
    """Merge ``(pack, digest)`` pairs into one effective policy (most restrictive wins)."""
    hours: dict[Weekday, list[CallableWindow]] | None = None
    hours_sources: list[str] = []
    weekday_bans: dict[Weekday, list[str]] = {}
    calendars: list[SourcedCalendar] = []
    emergencies: list[str] = []
    caps: list[SourcedCap] = []
    redials: list[SourcedRedial] = []
    refusals: list[SourcedRefusalBan] = []
    registries: list[SourcedRegistry] = []
    internal: InternalDnc | None = None
    budgets: list[SourcedAbandonment] = []
    for pack, _digest in packs:
        src = pack.id
        own = pack_hours(pack)
        if own is not None:
            hours_sources.append(src)
            hours = (
                own
                if hours is None
                else {d: intersect_windows(hours.get(d, []), own.get(d, [])) for d in WEEKDAYS}
            )
            hours = {d: ws for d, ws in hours.items() if ws}
        for day in pack.day_bans.weekdays:
            weekday_bans.setdefault(day, []).append(src)
        calendars += [
            SourcedCalendar(**c.model_dump(), source=src) for c in pack.day_bans.public_holidays
        ]
        if pack.day_bans.declared_emergency:
            emergencies.append(pack.jurisdiction or src)
        caps += [SourcedCap(**c.model_dump(), source=src) for c in pack.attempt_caps]
        redials += [SourcedRedial(**r.model_dump(), source=src) for r in pack.redial_rules]
        refusals += [SourcedRefusalBan(**r.model_dump(), source=src) for r in pack.refusal_bans]
        registries += [SourcedRegistry(**r.model_dump(), source=src) for r in pack.registries]
        internal = _stricter_internal(internal, pack.internal_dnc)
        if pack.abandonment is not None:
            budgets.append(SourcedAbandonment(**pack.abandonment.model_dump(), source=src))
    return EffectivePolicy(
        jurisdictions=sorted(jurisdictions),
        uncovered=sorted(uncovered),
        packs=[PackRef(id=p.id, version=p.version, digest=d) for p, d in packs],
        hours=hours,
        hours_sources=hours_sources,
        weekday_bans=weekday_bans,
        holidays=calendars,
        emergency_jurisdictions=sorted(set(emergencies)),
        attempt_caps=caps,
        redial_rules=redials,
        refusal_bans=refusals,
        registries=registries,
        internal_dnc=internal,
        abandonment=budgets,
        caller_id_required=any(p.caller_id_required for p, _ in packs),
        requires_consent=any(p.requires_consent for p, _ in packs),
    )


def _stricter_internal(current: InternalDnc | None, new: InternalDnc | None) -> InternalDnc | None:
    if current is None or new is None:
        return current or new
    deadlines = [p for p in (current.legal_deadline, new.legal_deadline) if p is not None]
    deadline = min(deadlines, key=lambda p: p.sort_key()) if len(deadlines) == 2 else None
    retention = max(current.retention, new.retention, key=lambda p: p.sort_key())
    return InternalDnc(legal_deadline=deadline, retention=retention)
