"""The simulated carrier: a :class:`~dialer.adapters.telephony.TelephonyGateway` for
development, tests and demos.

Each call's fate is drawn from a :class:`CarrierProfile` with an injectable RNG and played
out in (optionally compressed) time on the event loop:

* answered with probability ``answer_probability`` x the hour-of-day multiplier at the
  called party's LOCAL hour (time zone from the number's prefix, phonenumbers' geocoding
  data; numbers it cannot place use the carrier's fallback zone), read from an injectable
  :class:`~common.clock.Clock`;
* an answer is a person or, with ``machine_share``, an answering machine: the call's
  TRUTH. The dialer only sees the AMD's verdict, which calls a person a machine with
  ``amd_false_positive_share`` and a machine a person with ``amd_false_negative_share``;
* unanswered calls are busy (``busy_share``), fail (``failed_share``) or ring out to the
  ring timeout (``no_answer``).

See ``docs/telephony.md`` for every parameter and its default.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_timezone

from common.clock import Clock, SystemClock
from dialer.adapters.telephony import Progress

log = logging.getLogger(__name__)

# Multipliers of the answer probability by local hour 0..23: few answers at night, a dip
# in the working morning, a lunch bump and the evening peak (typical B2C contact rates;
# calling hours rules keep the dialer to roughly 8..21 anyway). Mean over 9..20 ~ 1.0.
DEFAULT_HOURLY_ANSWER_PROFILE: tuple[float, ...] = (
    0.3, 0.2, 0.2, 0.2, 0.2, 0.3, 0.4, 0.6,      # 00..07
    0.75, 0.85, 0.9, 0.95, 1.1, 1.0, 0.9, 0.9,   # 08..15
    1.0, 1.15, 1.25, 1.2, 1.05, 0.8, 0.6, 0.4,   # 16..23
)

_RINGBACK_S = 0.5  # seconds from dialing to the first ring
_MAX_REDRAWS = 20
_BUSY_AFTER_S = (0.5, 3.0)    # a busy signal comes back after U(0.5, 3) s
_FAILED_AFTER_S = (0.1, 1.0)  # a network failure comes back after U(0.1, 1) s
_MIN_MESSAGE_S = 1.0          # shortest recorded message, seconds
_E164 = re.compile(r"\+[1-9]\d{6,14}")


class Party(StrEnum):
    """Who really picked up a simulated call (the truth behind the AMD verdict)."""

    PERSON = "person"
    MACHINE = "machine"


@dataclass(frozen=True)
class CarrierProfile:
    """How simulated calls turn out.

    ``answer_probability``: share of calls answered before the ring timeout at an hour
    whose multiplier is 1 (capped at 1 after the multiplier); ``hourly_answer_profile``:
    24 multipliers (>= 0) by the called party's local hour. ``machine_share``: share of
    answers that are answering machines. ``amd_false_positive_share``: share of people
    the AMD reports as machines; ``amd_false_negative_share``: share of machines reported
    as people. ``busy_share`` / ``failed_share``: shares of UNanswered calls that are busy
    / fail (the rest ring out: ``no_answer``). Answered calls ring ``ring_min_s`` +
    Gamma(``ring_gamma_shape``, ``ring_gamma_scale_s``) seconds. A played message lasts
    its word count / ``message_words_per_second`` seconds (at least 1 s). An answered leg
    nobody hangs up is dropped after ``max_leg_s`` seconds (bounds the carrier's memory).
    """

    answer_probability: float = 0.35
    machine_share: float = 0.2
    busy_share: float = 0.25
    failed_share: float = 0.05
    ring_min_s: float = 2.0
    ring_gamma_shape: float = 2.0
    ring_gamma_scale_s: float = 3.0
    hourly_answer_profile: tuple[float, ...] = DEFAULT_HOURLY_ANSWER_PROFILE
    amd_false_positive_share: float = 0.03
    amd_false_negative_share: float = 0.10
    message_words_per_second: float = 2.5
    max_leg_s: float = 4 * 3600.0

    def __post_init__(self) -> None:
        for name in ("answer_probability", "machine_share", "busy_share", "failed_share",
                     "amd_false_positive_share", "amd_false_negative_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.busy_share + self.failed_share > 1.0:
            raise ValueError("busy_share + failed_share must not exceed 1")
        if len(self.hourly_answer_profile) != 24:
            raise ValueError("hourly_answer_profile needs 24 multipliers (hours 0..23)")
        if not all(math.isfinite(m) and m >= 0 for m in self.hourly_answer_profile):
            raise ValueError("hourly_answer_profile multipliers must be finite and >= 0")
        if self.ring_min_s < 0:
            raise ValueError("ring_min_s must be >= 0")
        for name in ("ring_gamma_shape", "ring_gamma_scale_s", "message_words_per_second",
                     "max_leg_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")

    def answer_probability_at(self, local_hour: int | None) -> float:
        """Answer probability at a local hour 0..23 (None: the flat ``answer_probability``)."""
        if local_hour is None:
            return self.answer_probability
        return min(1.0, self.answer_probability * self.hourly_answer_profile[local_hour])


@dataclass(frozen=True)
class SimulatedAttempt:
    """The drawn fate of one call: the terminal progress the dialer sees (for an answer,
    the AMD verdict) after ``after_s`` seconds, and who really answered (None: nobody)."""

    outcome: Progress
    after_s: float
    truth: Party | None = None

    @property
    def rings(self) -> bool:
        return self.outcome in (Progress.ANSWERED_HUMAN, Progress.ANSWERED_MACHINE,
                                Progress.NO_ANSWER)


def draw_attempt(profile: CarrierProfile, rng: random.Random, ring_timeout_s: float,
                 local_hour: int | None = None) -> SimulatedAttempt:
    """Draw one call's fate at the called party's ``local_hour`` (None: no hourly effect).

    Answer ring times are redrawn to fall inside the timeout, so the realised shares
    match the profile whatever the timeout.
    """
    if rng.random() < profile.answer_probability_at(local_hour):
        ring = ring_timeout_s
        for _ in range(_MAX_REDRAWS):
            ring = profile.ring_min_s + rng.gammavariate(profile.ring_gamma_shape,
                                                         profile.ring_gamma_scale_s)
            if ring < ring_timeout_s:
                break
        ring = min(ring, ring_timeout_s * 0.99)
        truth = Party.MACHINE if rng.random() < profile.machine_share else Party.PERSON
        misread = rng.random() < (profile.amd_false_negative_share if truth is Party.MACHINE
                                  else profile.amd_false_positive_share)
        says_machine = (truth is Party.MACHINE) != misread
        verdict = Progress.ANSWERED_MACHINE if says_machine else Progress.ANSWERED_HUMAN
        return SimulatedAttempt(verdict, ring, truth)
    u = rng.random()
    if u < profile.busy_share:
        return SimulatedAttempt(Progress.BUSY, rng.uniform(*_BUSY_AFTER_S))
    if u < profile.busy_share + profile.failed_share:
        return SimulatedAttempt(Progress.FAILED, rng.uniform(*_FAILED_AFTER_S))
    return SimulatedAttempt(Progress.NO_ANSWER, ring_timeout_s)


def number_time_zone(phone_e164: str) -> str | None:
    """IANA zone of a number's geographic prefix (the first when several), else None."""
    try:
        number = phonenumbers.parse(phone_e164)
    except phonenumbers.NumberParseException:
        return None
    zones = [z for z in phone_timezone.time_zones_for_number(number)
             if z != phone_timezone.UNKNOWN_TIMEZONE]
    return zones[0] if zones else None


@dataclass(eq=False)
class _Leg:
    """One simulated call leg; ``gone`` resolves when the leg ends, however it ends."""

    attempt: SimulatedAttempt
    gone: asyncio.Future[None]
    answered: bool = False
    expiry: asyncio.TimerHandle | None = field(default=None, repr=False)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class SimulatedCarrier:
    """A :class:`~dialer.adapters.telephony.TelephonyGateway` playing drawn fates out in time.

    ``clock``: the platform clock, read once per dial for the called party's local hour.
    ``fallback_timezone``: IANA zone for numbers the phonenumbers data cannot place.
    ``time_scale`` compresses the carrier's time (0.01: a 10 s ring lasts 0.1 s) for
    demos and tests; it never touches the dialer's own abandon threshold. A hang-up
    before an answer ends the dial with ``NO_ANSWER``. Single event loop; each live call
    costs one small object and one timer, so thousands of simultaneous calls are cheap.
    ``outcomes`` counts (truth, reported terminal progress) pairs for tests and metrics.
    """

    def __init__(self, profile: CarrierProfile, *, rng: random.Random,
                 clock: Clock | None = None, time_scale: float = 1.0,
                 fallback_timezone: str = "UTC") -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.profile = profile
        self._rng = rng
        self._clock = clock or SystemClock()
        self._scale = time_scale
        self._fallback = ZoneInfo(fallback_timezone)
        self._legs: dict[str, _Leg] = {}
        self.outcomes: Counter[tuple[Party | None, Progress]] = Counter()

    # ------------------------------------------------------------------ introspection
    @property
    def live_legs(self) -> int:
        """Legs ringing or answered right now."""
        return len(self._legs)

    def truth(self, call_id: str) -> Party | None:
        """Who really answered a live leg (None: not answered, or gone)."""
        leg = self._legs.get(call_id)
        return leg.attempt.truth if leg is not None and leg.answered else None

    def local_hour(self, phone_e164: str) -> int:
        """The called party's local hour now (0..23)."""
        zone = self._fallback
        if (name := number_time_zone(phone_e164)) is not None:
            try:
                zone = ZoneInfo(name)
            except ZoneInfoNotFoundError:
                pass
        return self._clock.now().astimezone(zone).hour

    # ------------------------------------------------------------------ the port
    async def dial(self, call_id: str, phone_e164: str, ring_timeout_s: float, *,
                   caller_id: str | None = None) -> AsyncIterator[Progress]:
        """Place a simulated call (see :meth:`TelephonyGateway.dial`). Rejected with
        ``FAILED`` at once: a call id already live, a ring timeout <= 0, a caller ID that
        is not E.164 (a real trunk refuses it too)."""
        problem = ("call id already live" if call_id in self._legs
                   else "ring timeout <= 0" if not ring_timeout_s > 0
                   else "caller id not E.164" if caller_id is not None
                   and not _E164.fullmatch(caller_id) else None)
        if problem is not None:
            log.info("simulated call %s failed: %s", call_id, problem)
            self.outcomes[(None, Progress.FAILED)] += 1
            yield Progress.FAILED
            return
        attempt = draw_attempt(self.profile, self._rng, ring_timeout_s,
                               self.local_hour(phone_e164))
        leg = _Leg(attempt, asyncio.get_running_loop().create_future())
        self._legs[call_id] = leg
        try:
            waited = 0.0
            alive = True
            if attempt.rings:
                waited = min(_RINGBACK_S, attempt.after_s)
                alive = await self._pause(leg, waited)
                if alive:
                    yield Progress.RINGING
            alive = alive and await self._pause(leg, attempt.after_s - waited)
            outcome = attempt.outcome if alive else Progress.NO_ANSWER
            if alive and attempt.truth is not None:
                leg.answered = True
                leg.expiry = asyncio.get_running_loop().call_later(
                    self.profile.max_leg_s * self._scale, self._end, call_id, leg)
            else:
                self._end(call_id, leg)
            self.outcomes[(attempt.truth if alive else None, outcome)] += 1
            yield outcome
        finally:
            if not leg.answered:  # consumer gone mid-dial (cancelled): tear the leg down
                self._end(call_id, leg)

    async def play_message(self, call_id: str, message: str) -> None:
        """Play ``message`` (words / ``message_words_per_second`` seconds, scaled) on an
        answered leg, then end it; a hang-up meanwhile cuts it short. A leg not answered
        yet is hung up; a gone or unknown one is a no-op."""
        leg = self._legs.get(call_id)
        if leg is None:
            return
        if not leg.answered:
            self._end(call_id, leg)
            return
        seconds = max(_MIN_MESSAGE_S, len(message.split()) / self.profile.message_words_per_second)
        await self._pause(leg, seconds)
        self._end(call_id, leg)

    async def hang_up(self, call_id: str) -> None:
        """End the leg now (a ringing leg's dial then ends with ``NO_ANSWER``); idempotent."""
        leg = self._legs.get(call_id)
        if leg is not None:
            self._end(call_id, leg)

    # ------------------------------------------------------------------ internals
    async def _pause(self, leg: _Leg, seconds: float) -> bool:
        """Let ``seconds`` of carrier time pass; False if the leg ended meanwhile."""
        if seconds > 0 and not leg.gone.done():
            timer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            handle = asyncio.get_running_loop().call_later(seconds * self._scale, _settle, timer)
            try:
                await asyncio.wait((timer, leg.gone), return_when=asyncio.FIRST_COMPLETED)
            finally:
                handle.cancel()
        return not leg.gone.done()

    def _end(self, call_id: str, leg: _Leg) -> None:
        """The leg is gone: wake whoever waits on it, forget it, drop its expiry timer."""
        _settle(leg.gone)
        if self._legs.get(call_id) is leg:
            del self._legs[call_id]
        if leg.expiry is not None:
            leg.expiry.cancel()
