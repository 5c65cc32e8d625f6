"""Combining abandonment rules into the one budget published for the dialer."""

from __future__ import annotations

from compliance_kit import bundled

from common.eventstore import EventStore
from compliance.app.budget import BudgetKeeper, period_seconds
from compliance.domain.periods import Period

DAY = 86400


def keeper() -> BudgetKeeper:
    return BudgetKeeper(bundled(), EventStore("/test"))


def test_periods_in_seconds_count_a_month_as_its_shortest_length() -> None:
    assert period_seconds(Period(hours=24)) == DAY
    assert period_seconds(Period(days=30)) == 30 * DAY
    assert period_seconds(Period(months=1)) == 28 * DAY


def test_before_any_lead_the_budget_is_the_strictest_of_every_pack() -> None:
    budget = keeper().budget("acme", "c1", [])
    assert budget is not None
    # US 3 %/30 d, CA 5 %/month, GB 3 %/24 h with AMD: 3 % over the shortest window, AMD.
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
    # US 3 %/30 d and CA 5 %/month (28 d): 3 % over 28 d honours both.
    assert (us_ca.max_abandon_rate, us_ca.window_s) == (0.03, 28 * DAY)
    ca = keeper().budget("acme", "c1", ["CA"])
    assert ca is not None and (ca.max_abandon_rate, ca.window_s) == (0.05, 28 * DAY)


def test_us_only_and_jurisdictions_without_a_rule() -> None:
    us = keeper().budget("acme", "c1", ["US", "US-FL"])
    assert us is not None
    assert (us.max_abandon_rate, us.window_s, us.count_amd_misclassified) == (
        0.03, 30 * DAY, False)
    assert keeper().budget("acme", "c1", ["JP"]) is None  # no rule: the budget in force stays
    jp_us = keeper().budget("acme", "c1", ["JP", "US"])
    assert jp_us is not None and jp_us.same_limits(us)
