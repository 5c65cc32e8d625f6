"""Dialer settings (environment variables ``KADEN_...``), validated at start-up."""

from __future__ import annotations

from pydantic import Field, model_validator

from common.settings import ServiceSettings


class DialerSettings(ServiceSettings):
    """Dialing loop and simulated-carrier settings on top of the shared ones."""

    dial_tick_s: float = Field(0.2, gt=0, description="dialing loop period, seconds")
    max_dials_per_tick: int = Field(200, ge=1, description="bound on calls placed per tick")
    hopper_cap: int = Field(
        5000, ge=1, description="hopper depth per campaign above which a warning is logged; "
        "entries are still accepted (leads bounds the leads in flight)")
    sweep_batch: int = Field(500, ge=1, description="hopper entries returned per sweep")
    ring_timeout_s: float = Field(
        25.0, description="seconds to let a call ring; raised to the legal 15 s minimum")
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

    @model_validator(mode="after")
    def _shares(self) -> DialerSettings:
        if self.carrier_busy_share + self.carrier_failed_share > 1.0:
            raise ValueError("carrier_busy_share + carrier_failed_share must not exceed 1")
        return self
