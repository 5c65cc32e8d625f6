"""Telephony gateway port, and a simulated carrier behind it.

The dialer places calls through :class:`TelephonyGateway` and reacts to the progress it
reports; a real gateway (Asterisk ARI, SIP trunks) plugs in behind the same port later.
:class:`SimulatedCarrier` draws each call's fate from a :class:`CarrierProfile` with an
injectable RNG and plays it out in (optionally compressed) time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Progress(StrEnum):
    """What the network reports about a call attempt."""

    RINGING = "ringing"
    ANSWERED_HUMAN = "answered_human"
    ANSWERED_MACHINE = "answered_machine"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"


TERMINAL_PROGRESS = frozenset(set(Progress) - {Progress.RINGING})


class TelephonyGateway(Protocol):
    """The port to the telephone network."""

    def dial(self, call_id: str, phone_e164: str, ring_timeout_s: float) -> AsyncIterator[Progress]:
        """Place a call; yield its progress, ending with one terminal :class:`Progress`.

        ``ring_timeout_s``: give up ringing after this many seconds (``no_answer``).
        """
        ...


@dataclass(frozen=True)
class CarrierProfile:
    """How simulated calls turn out.

    ``answer_probability``: share of calls answered before the ring timeout;
    ``machine_share``: share of answers that are answering machines; ``busy_share`` and
    ``failed_share``: shares of UNanswered calls that are busy / fail (the rest ring out:
    ``no_answer``). Answered calls ring ``ring_min_s`` + Gamma(shape, scale) seconds.
    """

    answer_probability: float = 0.35
    machine_share: float = 0.2
    busy_share: float = 0.25
    failed_share: float = 0.05
    ring_min_s: float = 2.0
    ring_gamma_shape: float = 2.0
    ring_gamma_scale_s: float = 3.0

    def __post_init__(self) -> None:
        for name in ("answer_probability", "machine_share", "busy_share", "failed_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.busy_share + self.failed_share > 1.0:
            raise ValueError("busy_share + failed_share must not exceed 1")


@dataclass(frozen=True)
class SimulatedAttempt:
    """The drawn fate of one call: its terminal progress after ``after_s`` seconds."""

    outcome: Progress
    after_s: float

    @property
    def rings(self) -> bool:
        return self.outcome in (Progress.ANSWERED_HUMAN, Progress.ANSWERED_MACHINE,
                                Progress.NO_ANSWER)


_RINGBACK_S = 0.5  # seconds from dialing to the first ring
_MAX_REDRAWS = 20


def draw_attempt(profile: CarrierProfile, rng: random.Random, ring_timeout_s: float) -> SimulatedAttempt:
    """Draw one call's fate. Answer ring times are redrawn to fall inside the timeout, so
    the realised shares match the profile whatever the timeout."""
    if rng.random() < profile.answer_probability:
        ring = ring_timeout_s
        for _ in range(_MAX_REDRAWS):
            ring = profile.ring_min_s + rng.gammavariate(profile.ring_gamma_shape,
                                                         profile.ring_gamma_scale_s)
            if ring < ring_timeout_s:
                break
        ring = min(ring, ring_timeout_s * 0.99)
        machine = rng.random() < profile.machine_share
        return SimulatedAttempt(Progress.ANSWERED_MACHINE if machine else Progress.ANSWERED_HUMAN,
                                ring)
    u = rng.random()
    if u < profile.busy_share:
        return SimulatedAttempt(Progress.BUSY, rng.uniform(0.5, 3.0))
    if u < profile.busy_share + profile.failed_share:
        return SimulatedAttempt(Progress.FAILED, rng.uniform(0.1, 1.0))
    return SimulatedAttempt(Progress.NO_ANSWER, ring_timeout_s)


class SimulatedCarrier:
    """A :class:`TelephonyGateway` that plays drawn fates out in time.

    ``time_scale`` compresses the carrier's time (0.01: a 10 s ring lasts 0.1 s) for demos
    and tests; it never touches the dialer's own abandon threshold.
    """

    def __init__(self, profile: CarrierProfile, *, rng: random.Random, time_scale: float = 1.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.profile = profile
        self._rng = rng
        self._scale = time_scale
        self._sleep = sleep

    async def dial(self, call_id: str, phone_e164: str, ring_timeout_s: float) -> AsyncIterator[Progress]:
        attempt = draw_attempt(self.profile, self._rng, ring_timeout_s)
        waited = 0.0
        if attempt.rings:
            waited = min(_RINGBACK_S, attempt.after_s)
            await self._sleep(waited * self._scale)
            yield Progress.RINGING
        await self._sleep((attempt.after_s - waited) * self._scale)
        yield attempt.outcome
