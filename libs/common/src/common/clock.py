"""The platform's notion of "now", injectable for tests and demos.

Every service reads time through a :class:`Clock`, never ``datetime.now`` directly, so an
end-to-end test can shift all services to the same instant (``KADEN_CLOCK_OFFSET_S``)
and domain code can be unit-tested with a :class:`FixedClock`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...


class SystemClock:
    """Real time, optionally shifted by a fixed offset (seconds; may be negative)."""

    def __init__(self, offset_s: float = 0.0) -> None:
        self._offset = timedelta(seconds=offset_s)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def shift(self, seconds: float) -> None:
        """Move this clock by ``seconds`` (end-to-end tests jump to a later instant of the
        day; every component holding this clock sees the jump at once)."""
        self._offset += timedelta(seconds=seconds)


class FixedClock:
    """A clock that moves only when told to (unit tests)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at

    def advance(self, seconds: float) -> None:
        self._at += timedelta(seconds=seconds)
