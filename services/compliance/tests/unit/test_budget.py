"""Combining abandonment rules into the one budget published for the dialer."""

from __future__ import annotations

from typing import Any

import pytest
from compliance_kit import bundled

from common.eventstore import EventStore
from compliance.app.budget import BudgetKeeper, combine, tile_seconds
from compliance.domain.periods import Period

DAY = 86400


def keeper() -> BudgetKeeper:
    return BudgetKeeper(bundled(), EventStore("/test"))


def test_tiles_are_exact_lengths_a_day_for_months_an_hour_for_calendar_days() -> None:
    assert tile_seconds(Period(hours=24)) == DAY
    assert tile_seconds(Period(days=30)) == 30 * DAY
    assert tile_seconds(Period(months=1)) == DAY  # 28..31 days: only whole days tile them all
    assert tile_seconds(Period(days=1, calendar=True)) == 3600  # 23..25 h across DST


class _Rule:
    def __init__(self, rate: float, period: Period) -> None:
        self.max_rate, self.period, self.counts_amd_misclassified = rate, period, False


class _Policy:
    def __init__(self, *rules: _Rule) -> None:
        self.abandonment, self.version = list(rules), "sha256:test"


@pytest.mark.parametrize(("periods", "window"), [
    ((Period(days=30), Period(days=28)), 2 * DAY),  # 28 d does not tile 30 d; 2 d does
    ((Period(hours=24), Period(days=30)), DAY),
    ((Period(days=30), Period(days=30)), 30 * DAY),
    ((Period(hours=36), Period(days=2)), 12 * 3600),
    ((Period(days=30), Period(months=1)), DAY),
])
def test_the_combined_window_is_the_gcd_of_the_rule_windows(
        periods: tuple[Period, ...], window: int) -> None:
    policy: Any = _Policy(*(_Rule(0.03 + i / 100, p) for i, p in enumerate(periods)))
    budget = combine(policy, ["XX"])
    assert budget is not None and (budget.max_abandon_rate, budget.window_s) == (0.03, window)
    # The tiling property: every rule's window is a whole number of combined windows.
    assert all(tile_seconds(p) % budget.window_s == 0 for p in periods)


def test_before_any_lead_the_budget_is_the_strictest_of_every_pack() -> None:
    budget = keeper().budget("acme", "c1", [])
    assert budget is not None
    # US 3 %/30 d, CA 5 %/month, GB 3 %/24 h with AMD: 3 % over gcd = 24 h, AMD.
    assert (budget.max_abandon_rate, budget.window_s, budget.count_amd_misclassified) == (
        0.03, DAY, True)
    assert {"US", "CA", "GB", "JP", "FR", "US-FL"} <= set(budget.jurisdictions)
    assert budget.policy_version.startswith("sha256:")


def test_rates_that_tie_take_the_shorter_window_and_the_amd_flag() -> None:
    budget = keeper().budget("acme", "c1", ["US", "US-NY", "GB"])
    assert budget is not None
    assert (budget.max_abandon_rate, budget.window_s, budget.count_amd_misclassified) == (
        0.03, DAY, True)
    assert budget.jurisdictions == ("GB", "US", "US-NY")


def test_the_lowest_rate_wins_over_a_higher_rate_with_a_shorter_window() -> None:
    us_ca = keeper().budget("acme", "c1", ["US", "CA"])
    assert us_ca is not None
    # US 3 %/30 d and CA 5 %/calendar month (28-31 d): 3 % over every day honours both.
    assert (us_ca.max_abandon_rate, us_ca.window_s) == (0.03, DAY)
    ca = keeper().budget("acme", "c1", ["CA"])
    assert ca is not None and (ca.max_abandon_rate, ca.window_s) == (0.05, DAY)


def test_us_only_and_jurisdictions_without_a_rule() -> None:
    us = keeper().budget("acme", "c1", ["US", "US-FL"])
    assert us is not None
    assert (us.max_abandon_rate, us.window_s, us.count_amd_misclassified) == (
        0.03, 30 * DAY, False)
    assert keeper().budget("acme", "c1", ["JP"]) is None  # no rule: the budget in force stays
    jp_us = keeper().budget("acme", "c1", ["JP", "US"])
    assert jp_us is not None and jp_us.same_limits(us)
