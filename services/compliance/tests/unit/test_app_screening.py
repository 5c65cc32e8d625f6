"""The screening use case without I/O: request and facts from ``lead.due``, the policy
cache, the clearance cap, and fail-closed decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from compliance_kit import bundled, utc

from common.clock import FixedClock
from common.events.catalog import CandidateZone, LeadDueV1
from common.eventstore import EventStore
from compliance.app.dnc_directory import DncDirectory
from compliance.app.facts_watermark import lag
from compliance.app.lead_facts import CampaignFacts, LeadFacts
from compliance.app.screening import Screened, Screener
from compliance.settings import ComplianceSettings

NY = "+12125550123"
NOW = utc("2025-01-15T20:00:00Z")  # 15:00 in New York (EST), a Wednesday
# A known campaign without its own caller ID (the setting applies) nor consent rule.
KNOWN = CampaignFacts("running", caller_id=None, product="solar", requires_consent=False)


def screener(**settings: Any) -> Screener:
    settings.setdefault("caller_id", "+12125550100")
    settings.setdefault("waived_registries", ["US-DNC"])
    return Screener(bundled(), DncDirectory(), EventStore("/test"), FixedClock(NOW),
                    ComplianceSettings(**settings))


def due(number: str = NY, zones: tuple[str, ...] = ("America/New_York",)) -> LeadDueV1:
    return LeadDueV1(lead_id="lead-1", list_id="list-1", campaign_id="c1", attempt=2,
                     due_at=NOW, phone_e164=number, country="US",
                     candidate_zones=[CandidateZone(zone=z, source="number_prefix") for z in zones])


def screen(s: Screener, tenant: str, d: LeadDueV1, at: Any = NOW,
           campaign: CampaignFacts | None = KNOWN) -> Screened:
    """Screen ``d`` with its campaign known (``campaign`` None: not heard of yet)."""
    return s.screen(tenant, d, at, facts=LeadFacts(tenant, d.phone_e164, d.campaign_id, campaign))


def test_a_clearance_is_capped_at_the_configured_age() -> None:
    screened = screen(screener(), "acme", due())
    event = screened.event
    assert event.outcome == "cleared" and event.attempt == 2 and event.phone_e164 == NY
    assert event.valid_until == NOW + timedelta(seconds=900)
    assert [r.rule_id for r in event.reasons] == ["registry.waived", "clearance.max_age"]
    assert {"zone": "America/New_York", "source": "phone_prefix", "detail": "lead record"} \
        in event.inputs["zones"]
    assert event.inputs["lists"] == [{"list_id": "tenant", "kind": "tenant", "version": 0}]
    assert screened.record["valid_until"] == event.valid_until.isoformat().replace("+00:00", "Z")
    assert screened.record["decision_id"] == event.decision_id
    assert NY not in str(screened.record)


def test_the_window_end_wins_when_it_comes_first() -> None:
    at = utc("2025-01-16T01:50:00Z")  # 20:50 in New York, closes at 21:00
    event = screen(screener(), "acme", due(), at).event
    assert event.valid_until == utc("2025-01-16T02:00:00Z")
    assert "clearance.max_age" not in [r.rule_id for r in event.reasons]


def test_a_known_campaign_without_caller_id_takes_the_setting() -> None:
    own = CampaignFacts("running", "+12125550111", "solar", requires_consent=False)
    assert screen(screener(caller_id=None), "acme", due(), campaign=own).event.outcome \
        == "cleared"
    assert screen(screener(), "acme", due()).event.outcome == "cleared"  # KNOWN: setting


def test_without_facts_the_campaign_is_unknown_and_retried_after_the_default() -> None:
    event = screener().screen("acme", due(), NOW).event
    assert [r.rule_id for r in event.reasons] == ["campaign.unknown"]
    assert event.earliest_callable_at == NOW + timedelta(seconds=10)


def test_a_blocked_event_carries_only_the_blocking_reasons() -> None:
    event = screen(screener(caller_id=None), "acme", due()).event
    assert event.outcome == "blocked" and event.valid_until is None
    assert [r.rule_id for r in event.reasons] == ["caller_id.missing"]


def test_a_tenant_dnc_hit_blocks_only_that_tenant() -> None:
    s = screener()
    s._directory._list("acme", "tenant").index.add(NY)
    assert screen(s, "acme", due()).event.outcome == "blocked"
    assert screen(s, "globex", due()).event.outcome == "cleared"


@pytest.mark.parametrize(("number", "zones", "rule"), [
    ("+1212555", ("America/New_York",), "number.invalid"),
    (NY, ("Nowhere/Land",), "zone.invalid"),
    (NY, (), "zone.unknown"),
])
def test_bad_leads_are_blocked_never_cleared(number: str, zones: tuple[str, ...], rule: str) -> None:
    event = screen(screener(), "acme", due(number, zones)).event
    assert event.outcome == "blocked" and rule in [r.rule_id for r in event.reasons]
    assert event.earliest_callable_at is None and event.valid_until is None


def test_an_unexpected_error_blocks_with_a_masked_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    s = screener()

    def broken(*_: Any) -> None:
        raise RuntimeError(f"index corrupted near {NY}")

    monkeypatch.setattr(s._directory, "hits", broken)
    screened = screen(s, "acme", due())
    (reason,) = screened.event.reasons
    assert screened.event.outcome == "blocked" and reason.rule_id == "screening.error"
    assert NY not in reason.message and "+1********23" in reason.message
    assert screened.event.policy_version == "none"


def test_the_effective_policy_is_merged_once_per_jurisdictions_tenant_campaign() -> None:
    s = screener()
    for _ in range(3):
        screen(s, "acme", due())
    screen(s, "acme", due("+13055551234"))  # Miami: US + US-FL
    info = s._policy.cache_info()
    assert (info.misses, info.hits) == (2, 2)


def test_settings_refuse_registry_waivers_in_production() -> None:
    with pytest.raises(ValueError, match="waived_registries must be empty in production"):
        ComplianceSettings(environment="production", waived_registries=["US-DNC"])
    assert ComplianceSettings().clearance_max_s == 900
    assert ComplianceSettings().unknown_campaign_retry_s == 10
    with pytest.raises(ValueError, match="greater than 0"):
        ComplianceSettings(unknown_campaign_retry_s=0)



def test_stale_facts_block_every_lead_for_a_short_retry() -> None:
    s = screener()
    stale = LeadFacts("acme", NY, "c1", KNOWN, facts_lag_s=121.0)
    event = s.screen("acme", due(), NOW, facts=stale).event
    assert event.outcome == "blocked" and [r.rule_id for r in event.reasons] == ["facts.stale"]
    assert event.earliest_callable_at == NOW + timedelta(seconds=30)
    assert "121 s ago" in event.reasons[0].message
    never = LeadFacts("acme", NY, "c1", KNOWN, facts_lag_s=float("inf"))
    assert "never" in s.screen("acme", due(), NOW, facts=never).event.reasons[0].message
    # Within the lag: screened as usual (cleared); the threshold is a setting.
    fresh = LeadFacts("acme", NY, "c1", KNOWN, facts_lag_s=119.0)
    assert s.screen("acme", due(), NOW, facts=fresh).event.outcome == "cleared"
    assert screener(facts_max_lag_s=60).screen("acme", due(), NOW, facts=replace(
        fresh, facts_lag_s=61.0)).event.reasons[0].rule_id == "facts.stale"


@pytest.mark.parametrize(("previous", "delay"), [
    (None, 10.0), (10.0, 20.0), (20.0, 40.0), (640.0, 900.0), (900.0, 900.0), (3.0, 10.0)])
def test_campaign_unknown_retries_double_per_consecutive_block_up_to_the_cap(
        previous: float | None, delay: float) -> None:
    facts = LeadFacts("acme", NY, "c1", None, unknown_retry_s=previous)
    event = screener().screen("acme", due(), NOW, facts=facts).event
    assert [r.rule_id for r in event.reasons] == ["campaign.unknown"]
    assert event.earliest_callable_at == NOW + timedelta(seconds=delay)
    assert f"after {delay:g} s" in event.reasons[0].message


def test_settings_refuse_a_lag_shorter_than_two_watermark_checks() -> None:
    with pytest.raises(ValueError, match="twice"):
        ComplianceSettings(facts_max_lag_s=5, facts_watermark_interval_s=5)


def test_lag_counts_records_past_the_stored_offsets_or_the_partition_beginning() -> None:
    a, b, c = TopicPartition("calls", 0), TopicPartition("calls", 1), TopicPartition("agents", 0)
    ends = {a: 10, b: 5, c: 7}
    assert lag(ends, {a: 0, b: 0, c: 7}, {a: 10, b: 5}) == 0  # c: never stored, but expired
    assert lag(ends, {a: 0, b: 0, c: 0}, {a: 8, b: 5}) == 2 + 7
    assert lag({}, {}, {}) == 0  # no topic yet: nothing to be behind
