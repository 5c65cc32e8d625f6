"""Carrier (trunk) limits: calls per second and concurrent lines, as a pure meter.

A SIP trunk or carrier account caps how fast calls may be *started* (calls per second,
CPS) and how many may be up at once (concurrent channels/lines). Going over either gets
calls rejected by the carrier (SIP 503/403, often "CPS exceeded"), which the dialer would
see as failed calls it paced for. The dialing loop therefore asks :class:`TrunkMeter` how
many calls it may place right now and places ``min(pacing lines, meter.available(...))``.

The meter is pure: no clock, no I/O. Time is passed in as seconds on any monotonic scale
(e.g. ``loop.time()`` or a POSIX timestamp); only differences matter.

CPS is a token bucket: it refills at ``calls_per_second`` tokens per second up to a burst
of ``max(calls_per_second, 1)`` tokens, i.e. at most one second's worth (one call when the
rate is below one per second, else nothing could ever be placed). It starts full. Hence,
as long as the caller never takes more than :meth:`TrunkMeter.available` granted, in ANY
interval of ``t`` seconds at most ``calls_per_second * t + burst`` calls are placed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Tolerance on the token count against float drift of many small refills (tokens).
_EPS = 1e-9


@dataclass(frozen=True)
class TrunkLimits:
    """The limits of one trunk.

    ``calls_per_second``: sustained call starts per second (> 0);
    ``max_concurrent_lines``: calls up at once, ringing or connected (> 0).
    """

    calls_per_second: float
    max_concurrent_lines: int

    def __post_init__(self) -> None:
        if not (self.calls_per_second > 0 and math.isfinite(self.calls_per_second)):
            raise ValueError("calls_per_second must be a finite number > 0")
        if self.max_concurrent_lines <= 0:
            raise ValueError("max_concurrent_lines must be > 0")

    @property
    def burst(self) -> float:
        """Bucket capacity (calls): one second's worth, at least one call."""
        return max(self.calls_per_second, 1.0)


class TrunkMeter:
    """Token bucket for calls per second plus a concurrent-lines cap.

    Not thread-safe by design (one dialing loop owns one meter); every call is O(1).
    """

    def __init__(self, limits: TrunkLimits, now: float) -> None:
        """``now``: the current time, seconds; the bucket starts full."""
        self.limits = limits
        self._tokens = limits.burst
        self._at = now

    def _refill(self, now: float) -> None:
        # A clock that steps back never refills (and never drains) the bucket.
        if now > self._at:
            self._tokens = min(self.limits.burst,
                               self._tokens + (now - self._at) * self.limits.calls_per_second)
            self._at = now

    def available(self, now: float, lines_in_use: int) -> int:
        """Calls placeable at ``now`` (seconds) with ``lines_in_use`` calls already up.

        The minimum of the whole tokens in the bucket and the free lines; never negative.
        Reading it does not consume anything.
        """
        self._refill(now)
        tokens = math.floor(self._tokens + _EPS)
        free_lines = self.limits.max_concurrent_lines - lines_in_use
        return max(0, min(tokens, free_lines))

    def take(self, count: int, now: float) -> None:
        """Record ``count`` calls placed at ``now`` (seconds).

        Taking more than :meth:`available` granted is recorded too (the bucket goes into
        debt, holding back later calls until it is repaid), so the long-run rate still
        holds; only what ``available`` grants keeps the per-interval bound exact.
        """
        if count < 0:
            raise ValueError("count must be >= 0")
        self._refill(now)
        self._tokens -= count
