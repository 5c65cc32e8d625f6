"""Prometheus metrics of the live dialer.

Labels: ``campaign_id`` (a UUID, unique across tenants: no tenant label is needed, and the
number of series grows with the campaigns running at once, hundreds, not with traffic)
and ``mode``. Never a phone number or a lead id. Gauges of a campaign this process stops
pacing (revoked to another dialer) are removed, so one campaign is reported by one process.
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


def forget_campaign(campaign_id: str) -> None:
    """Drop the gauges of a campaign no longer paced here."""
    for gauge in (ABANDON_RATE, ABANDON_TARGET):
        with contextlib.suppress(KeyError):
            gauge.remove(campaign_id)
