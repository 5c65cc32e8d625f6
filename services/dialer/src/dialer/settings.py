"""Dialer settings (environment variables ``KADEN_...``), validated at start-up."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, model_validator

from common.settings import ServiceSettings
from dialer.adapters.simulated_carrier import DEFAULT_HOURLY_ANSWER_PROFILE


def _zone(name: str) -> str:
    """An IANA time zone name (ValueError otherwise, reported by pydantic)."""
    try:
        ZoneInfo(name)
    except (KeyError, ValueError) as error:  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {name!r}") from error
    return name


class DialerSettings(ServiceSettings):
    """Dialing loop and simulated-carrier settings on top of the shared ones."""

    dial_tick_s: float = Field(0.2, gt=0, description="dialing loop period, seconds")
    max_dials_per_tick: int = Field(200, ge=1, description="bound on calls placed per tick")
    hopper_cap: int = Field(
        5000, ge=1, description="hopper depth per campaign above which a warning is logged; "
        "entries are still accepted (leads bounds the leads in flight)")
    sweep_batch: int = Field(500, ge=1, description="hopper entries returned per sweep")
    pacing_event_interval_s: float = Field(
        1.0, gt=0, description="at most one pacing.decided event per campaign this often, "
        "seconds (and only when the decision changed, or every 60 s)")
    partition_ownership: bool = Field(
        True, description="pace only the campaigns whose partition of the campaigns topic "
        "this process is assigned in the dialer-pacing group (off: pace every campaign, "
        "for a single process without Kafka)")
    instance_id: str | None = Field(
        None, min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._-]+$",
        description="this dialer process's name (e.g. the pod name): each start follows its "
        "calls as <name>-<nonce> and ends, at start-up, the calls an earlier start of the "
        "same name left live; a random name when unset")
    owner_stale_after_s: float = Field(
        15.0, gt=0, description="a dialer process silent this long is gone: the owner of a "
        "campaign ends the calls it left live as failed, seconds")
    recovery_interval_s: float = Field(
        2.0, gt=0, description="how often the owner looks for calls left live, seconds")
    statistics_rebuild_calls: int = Field(
        2000, ge=1, description="recent calls a campaign's pacing statistics are rebuilt "
        "from when this process starts pacing it")
    route_poll_s: float = Field(
        0.1, gt=0, description="how often a waiting live answer looks for a ready agent, s")
    time_scale: float = Field(
        1.0, gt=0, le=1.0, description="compress the SIMULATED carrier's time (ring times): "
        "0.01 makes a 10 s ring last 0.1 s. Never applies to the 2 s abandon threshold")
    carrier_answer_probability: float = Field(0.35, ge=0, le=1)
    carrier_machine_share: float = Field(0.2, ge=0, le=1, description="of answers")
    carrier_busy_share: float = Field(0.25, ge=0, le=1, description="of unanswered calls")
    carrier_failed_share: float = Field(0.05, ge=0, le=1, description="of unanswered calls")
    carrier_ring_min_s: float = Field(2.0, ge=0, description="shortest ring before an answer")
    carrier_ring_gamma_shape: float = Field(2.0, gt=0)
    carrier_ring_gamma_scale_s: float = Field(3.0, gt=0)
    carrier_seed: int | None = Field(None, description="seed of the simulated carrier's RNG")
    carrier_hourly_answer_profile: list[Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default_factory=lambda: list(DEFAULT_HOURLY_ANSWER_PROFILE), min_length=24,
        max_length=24, description="24 multipliers of carrier_answer_probability by the called "
        "party's local hour 0..23 (JSON list in the environment)")
    carrier_fallback_timezone: Annotated[str, AfterValidator(_zone)] = Field(
        "UTC", description="IANA zone for the local hour of numbers without a known zone")
    carrier_amd_false_positive_share: float = Field(
        0.03, ge=0, le=1, description="of people, reported as machines by the AMD")
    carrier_amd_false_negative_share: float = Field(
        0.10, ge=0, le=1, description="of machines, reported as people by the AMD")
    carrier_message_words_per_second: float = Field(
        2.5, gt=0, description="speed of played messages: duration = words / this, s")
    carrier_max_leg_s: float = Field(
        14400.0, gt=0, description="an answered leg nobody hangs up is dropped after this, s")
    trunk_calls_per_second: float = Field(
        50.0, gt=0, allow_inf_nan=False,
        description="call starts per second the trunk accepts (token bucket, "
        "burst of one second's worth)")
    trunk_max_concurrent_lines: int = Field(
        500, gt=0, description="calls up at once (ringing or connected) the trunk accepts")

    @model_validator(mode="after")
    def _shares(self) -> DialerSettings:
        if self.carrier_busy_share + self.carrier_failed_share > 1.0:
            raise ValueError("carrier_busy_share + carrier_failed_share must not exceed 1")
        return self
