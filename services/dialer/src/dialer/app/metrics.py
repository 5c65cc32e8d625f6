"""Prometheus metrics of the live dialer.

Labels: ``campaign_id`` (a UUID, unique across tenants: no tenant label is needed, and the
number of series grows with the campaigns running at once, hundreds, not with traffic)
and ``mode``. Never a phone number or a lead id. Every series of a campaign this process
stops pacing (stopped, paused, or revoked to another dialer) is removed, counters too (a
counter that comes back starts from 0: ``rate()`` treats it as a reset), so the series
follow the campaigns paced now and one campaign is reported by one process.
"""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

LINES_DIALED = Counter(
    "kaden_dialer_lines_dialed_total", "Calls placed by the pacing loop", ["campaign_id", "mode"])
TRUNK_HELD_BACK = Counter(
    "kaden_dialer_trunk_held_back_total",
    "Calls pacing asked for that the carrier limits (CPS, concurrent lines) held back",
    ["campaign_id"])
ABANDON_RATE = Gauge(
    "kaden_dialer_abandon_rate",
    "Abandons per live answer over the campaign's regulatory window", ["campaign_id"])
ABANDON_TARGET = Gauge(
    "kaden_dialer_abandon_target",
    "Abandon rate the campaign paces to: compliance's budget, tightened by the campaign",
    ["campaign_id"])
PACING_LATENCY = Histogram(
    "kaden_dialer_pacing_decision_seconds", "Time to compute one pacing decision", ["mode"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1))
OWNED_CAMPAIGN_PARTITIONS = Gauge(
    "kaden_dialer_owned_partitions", "Partitions of the campaigns topic this process paces")


_MODES = ("preview", "progressive", "power", "predictive")


def forget_campaign(campaign_id: str) -> None:
    """Drop every series of a campaign no longer paced here."""
    labels: list[tuple[Counter | Gauge, tuple[str, ...]]] = [
        (ABANDON_RATE, (campaign_id,)), (ABANDON_TARGET, (campaign_id,)),
        (TRUNK_HELD_BACK, (campaign_id,)),
        *((LINES_DIALED, (campaign_id, mode)) for mode in _MODES)]
    for metric, values in labels:
        with contextlib.suppress(KeyError):
            metric.remove(*values)
