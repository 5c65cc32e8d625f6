"""Pure domain model of the dialer: no I/O, unit tested."""

from dialer.domain.pacing import (
    AbandonBudget,
    PacingConfig,
    PacingDecision,
    PacingMode,
    PacingReason,
    PacingState,
    decide,
    progressive_lines,
)
from dialer.domain.pacing_estimators import CampaignStatistics, DurationEstimator

__all__ = [
    "AbandonBudget",
    "CampaignStatistics",
    "DurationEstimator",
    "PacingConfig",
    "PacingDecision",
    "PacingMode",
    "PacingReason",
    "PacingState",
    "decide",
    "progressive_lines",
]
