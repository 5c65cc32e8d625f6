"""Durations used by rules: exact (hours, days) or calendar (days in local time, months)."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, model_validator


class Period(BaseModel):
    """A rule duration. Exactly one of ``hours``, ``days``, ``months`` is set.

    ``days`` is an exact multiple of 24 h unless ``calendar`` is true, in which case it
    counts local calendar days (today plus the ``days - 1`` previous ones). ``months`` is
    always calendar months.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    hours: int = 0
    days: int = 0
    months: int = 0
    calendar: bool = False

    @model_validator(mode="after")
    def _one_unit(self) -> Period:
        units = [u for u in ("hours", "days", "months") if getattr(self, u)]
        if len(units) != 1 or getattr(self, units[0]) < 0:
            raise ValueError("exactly one of hours, days, months must be a positive integer")
        if self.calendar and not self.days:
            raise ValueError("calendar: true is only meaningful with days")
        return self

    def label(self) -> str:
        """Short human form, e.g. ``24h``, ``30d``, ``30 calendar days``, ``18 months``."""
        if self.hours:
            return f"{self.hours}h"
        if self.months:
            return f"{self.months} months"
        return f"{self.days} calendar days" if self.calendar else f"{self.days}d"

    def sort_key(self) -> float:
        """Approximate length in hours, to compare periods of different units."""
        return self.hours + 24.0 * self.days + 24.0 * 30.4375 * self.months

    def after(self, instant: datetime, zone: ZoneInfo) -> datetime:
        """The instant (UTC) at which a period that began at ``instant`` has elapsed.

        Calendar periods end at local midnight in ``zone``; exact ones are plain additions.
        """
        if self.hours:
            return instant + timedelta(hours=self.hours)
        if self.days and not self.calendar:
            return instant + timedelta(days=self.days)
        local = instant.astimezone(zone)
        end_date = (
            local.date() + timedelta(days=self.days)
            if self.days
            else add_months(local.date(), self.months)
        )
        if self.months:
            return first_instant_at(end_date, local.time(), zone)
        return local_midnight(end_date, zone)


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months, clamped to the end of the month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) of local ``day`` in ``zone``."""
    return first_instant_at(day, time(), zone)


def first_instant_at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock of ``zone`` on ``day`` reads ``wall``
    or later.

    Ambiguous times (autumn fold) resolve to their first occurrence; a time inside a
    spring-forward gap resolves to the transition instant, the first instant whose wall
    clock is past it.
    """
    naive = datetime.combine(day, wall)
    instant = naive.replace(tzinfo=zone).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == naive:
        return instant
    # In a gap: fold=0 mapped past the transition; bisect back to it (offsets are whole
    # seconds and a gap is shorter than 6 hours).
    after = instant.astimezone(zone).utcoffset()
    low, high = instant - timedelta(hours=6), instant
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).utcoffset() == after:
            high = mid
        else:
            low = mid
    return high.replace(microsecond=0)
