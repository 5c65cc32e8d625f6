"""Calling windows, day bans and holidays, evaluated in every candidate zone.

Rule 3: a window is half-open (``start <= local time < end``) and local time always
comes from the IANA database at the instant itself, so DST is never cached. A dial is
allowed only when every candidate zone is open.

Searching for the next opening (or closing) enumerates the only instants at which
"open" can change — each zone's window edges and midnights (both folds) and its DST
transitions — and evaluates the exact predicate there; so the search agrees with the
predicate by construction, including across DST gaps and folds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from compliance.domain.effective import EffectivePolicy
from compliance.domain.pack_schema import WEEKDAYS
from compliance.domain.periods import first_instant_at, local_midnight
from compliance.domain.zones import zone_info

SEARCH_HORIZON = timedelta(days=400)
_CHUNK = timedelta(days=7)


def closed_reason(policy: EffectivePolicy, zone: str, instant: datetime) -> str | None:
    """Why ``zone`` is closed at ``instant`` (UTC), or None when calls are allowed there."""
    local = instant.astimezone(zone_info(zone))
    day = WEEKDAYS[local.weekday()]
    if day in policy.weekday_bans:
        return f"{day} is banned by {', '.join(policy.weekday_bans[day])} ({zone} {local:%Y-%m-%d})"
    for cal in policy.holidays:
        name = _holidays(cal.country, cal.subdivision, local.year).get(local.date())
        if name is not None:
            where = cal.country + (f"-{cal.subdivision}" if cal.subdivision else "")
            return (
                f"{local:%Y-%m-%d} is a public holiday in {where} ({name}), banned by {cal.source}"
            )
    if policy.hours is None:
        return None
    wall = local.time().replace(tzinfo=None)
    windows = policy.hours.get(day, [])
    if any(w.start <= wall < w.end for w in windows):
        return None
    allowed = ", ".join(w.label() for w in windows) or "closed all day"
    return (
        f"{local:%H:%M} {day} in {zone} is outside calling hours ({allowed}; "
        f"from {', '.join(policy.hours_sources)})"
    )


def is_open_everywhere(policy: EffectivePolicy, zones: Iterable[str], instant: datetime) -> bool:
    """True when calls are allowed at ``instant`` in every zone (vacuously true for none)."""
    return all(closed_reason(policy, z, instant) is None for z in zones)


def next_open(policy: EffectivePolicy, zones: list[str], after: datetime) -> datetime | None:
    """Earliest instant ``>= after`` at which every zone is open; None within the horizon."""
    return _next_state(policy, zones, after, want_open=True)


def next_close(policy: EffectivePolicy, zones: list[str], after: datetime) -> datetime | None:
    """Earliest instant ``>= after`` at which some zone is closed; None within the horizon."""
    return _next_state(policy, zones, after, want_open=False)


def _next_state(
    policy: EffectivePolicy, zones: list[str], after: datetime, *, want_open: bool
) -> datetime | None:
    if is_open_everywhere(policy, zones, after) == want_open:
        return after
    start = after
    while start - after < SEARCH_HORIZON:
        end = start + _CHUNK
        for instant in sorted(_change_points(policy, zones, start, end)):
            if start < instant and is_open_everywhere(policy, zones, instant) == want_open:
                return instant
        start = end
    return None


def _change_points(
    policy: EffectivePolicy, zones: list[str], start: datetime, end: datetime
) -> set[datetime]:
    """Instants in ``(start, end]`` at which some zone's open/closed state may change."""
    points: set[datetime] = set()
    for name in zones:
        tz = zone_info(name)
        first = start.astimezone(tz).date() - timedelta(days=1)
        last = end.astimezone(tz).date() + timedelta(days=1)
        day = first
        while day <= last:
            points.add(local_midnight(day, tz))
            windows = policy.hours.get(WEEKDAYS[day.weekday()], []) if policy.hours else []
            for w in windows:
                for wall in (w.start, w.end):
                    points.add(first_instant_at(day, wall, tz))
                    # An ambiguous wall time also occurs a second time (fold=1).
                    points.add(datetime.combine(day, wall, tz).replace(fold=1).astimezone(UTC))
            points.update(_transitions(day, tz))
            day += timedelta(days=1)
    return {p for p in points if start < p <= end}


def _transitions(day: date, tz: ZoneInfo) -> list[datetime]:
    """DST transition instants during local ``day`` (bisected to the second)."""
    lo = local_midnight(day, tz)
    hi = local_midnight(day + timedelta(days=1), tz)
    if lo.astimezone(tz).utcoffset() == hi.astimezone(tz).utcoffset():
        return []
    base = lo.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == base:
            lo = mid
        else:
            hi = mid
    return [hi.replace(microsecond=0)]


@lru_cache(maxsize=512)
def _holidays(country: str, subdivision: str | None, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision, years=year)
