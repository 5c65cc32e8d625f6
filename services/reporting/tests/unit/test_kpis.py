"""KPI math: the formulas of the glossary, and null (never 0, never an error) on a 0 denominator."""

from __future__ import annotations

import dataclasses

import pytest

from reporting.domain.kpis import (
    AGENT_DEFINITIONS,
    CAMPAIGN_DEFINITIONS,
    AgentKpis,
    AgentTime,
    CallTotals,
    CampaignKpis,
    agent_kpis,
    campaign_kpis,
    occupancy,
    ratio,
    utilisation,
)


def test_ratio_is_none_on_zero_denominator() -> None:
    assert ratio(3, 4) == 0.75
    assert ratio(0, 4) == 0.0
    assert ratio(0, 0) is None
    assert ratio(5, 0) is None


def test_campaign_kpis_follow_the_glossary() -> None:
    calls = CallTotals(dials=10, connects=6, contacts=4, conversions=1, abandoned=1,
                       handled=3, talk_ms=270_000, acw_ms=45_000)
    time = AgentTime(ready_ms=100_000, paused_ms=50_000, on_call_ms=270_000, wrap_up_ms=30_000)
    k = campaign_kpis(calls, time)
    assert k == CampaignKpis(
        dials=10, connects=6, contacts=4, contact_rate=0.4, right_party_contacts=None,
        conversions=1, conversion_rate=0.1, conversion_per_contact=0.25,
        abandoned=1, abandon_rate=0.25, handled_calls=3,
        att_s=90.0, acw_s=15.0, aht_s=105.0,
        occupancy=pytest.approx(300 / 400), utilisation=pytest.approx(400 / 450),
    )


def test_campaign_with_nothing_yet_has_zero_counts_and_null_rates() -> None:
    k = campaign_kpis(CallTotals(), AgentTime())
    assert (k.dials, k.connects, k.contacts, k.conversions, k.abandoned, k.handled_calls) == (
        0, 0, 0, 0, 0, 0)
    for rate in ("contact_rate", "conversion_rate", "conversion_per_contact", "abandon_rate",
                 "att_s", "acw_s", "aht_s", "occupancy", "utilisation"):
        assert getattr(k, rate) is None, rate


def test_each_rate_is_null_only_when_its_own_denominator_is_zero() -> None:
    # Machines answered, nobody live: contact rate 0, but per-contact rates unknown.
    k = campaign_kpis(CallTotals(dials=2, connects=1), AgentTime(ready_ms=600_000))
    assert k.contact_rate == 0.0
    assert k.conversion_rate == 0.0
    assert k.conversion_per_contact is None
    assert k.abandon_rate is None
    assert k.att_s is None and k.aht_s is None
    assert k.occupancy == 0.0  # waited the whole time: 0 % occupied, not unknown
    assert k.utilisation == 1.0


def test_occupancy_ignores_pauses_and_utilisation_counts_them_as_logged_in() -> None:
    time = AgentTime(ready_ms=100, paused_ms=100, on_call_ms=150, wrap_up_ms=50)
    assert occupancy(time) == pytest.approx(200 / 300)
    assert utilisation(time) == pytest.approx(300 / 400)
    assert occupancy(AgentTime(paused_ms=60_000)) is None  # only paused: no working time base
    assert utilisation(AgentTime(paused_ms=60_000)) == 0.0


def test_agent_kpis() -> None:
    calls = CallTotals(handled=2, conversions=1, talk_ms=150_000, acw_ms=50_000)
    time = AgentTime(ready_ms=100_000, paused_ms=60_000, on_call_ms=150_000, wrap_up_ms=50_000)
    assert agent_kpis(calls, time) == AgentKpis(
        handled_calls=2, conversions=1, att_s=75.0, acw_s=25.0, aht_s=100.0,
        occupancy=pytest.approx(2 / 3), utilisation=pytest.approx(300 / 360))
    idle = agent_kpis(CallTotals(), AgentTime())
    assert (idle.att_s, idle.acw_s, idle.aht_s, idle.occupancy, idle.utilisation) == (
        None, None, None, None, None)


@pytest.mark.parametrize(("definitions", "kpis"), [
    (CAMPAIGN_DEFINITIONS, CampaignKpis), (AGENT_DEFINITIONS, AgentKpis)])
def test_every_number_has_its_formula(definitions: dict[str, str], kpis: type) -> None:
    assert {f.name for f in dataclasses.fields(kpis)} == set(definitions)
    assert all(text.strip() for text in definitions.values())
