"""The screening use case without I/O: request and facts from ``lead.due``, the policy
cache, the clearance cap, and fail-closed decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from compliance_kit import bundled, utc

from common.clock import FixedClock
from common.events.catalog import CandidateZone, LeadDueV1
from common.eventstore import EventStore
from compliance.app.dnc_directory import DncDirectory
from compliance.app.screening import Screener
from compliance.settings import ComplianceSettings

NY = "+12125550123"
NOW = utc("2025-01-15T20:00:00Z")  # 15:00 in New York (EST), a Wednesday


def screener(**settings: Any) -> Screener:
    settings.setdefault("caller_id", "+12125550100")
    settings.setdefault("waived_registries", ["US-DNC"])
    return Screener(bundled(), DncDirectory(), EventStore("/test"), FixedClock(NOW),
                    ComplianceSettings(**settings))


def due(number: str = NY, zones: tuple[str, ...] = ("America/New_York",)) -> LeadDueV1:
    return LeadDueV1(lead_id="lead-1", list_id="list-1", campaign_id="c1", attempt=2,
                     due_at=NOW, phone_e164=number, country="US",
                     candidate_zones=[CandidateZone(zone=z, source="number_prefix") for z in zones])


def test_a_clearance_is_capped_at_the_configured_age() -> None:
    screened = screener().screen("acme", due(), NOW)
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
    event = screener().screen("acme", due(), at).event
    assert event.valid_until == utc("2025-01-16T02:00:00Z")
    assert "clearance.max_age" not in [r.rule_id for r in event.reasons]


def test_a_blocked_event_carries_only_the_blocking_reasons() -> None:
    event = screener(caller_id=None).screen("acme", due(), NOW).event
    assert event.outcome == "blocked" and event.valid_until is None
    assert [r.rule_id for r in event.reasons] == ["caller_id.missing"]


def test_a_tenant_dnc_hit_blocks_only_that_tenant() -> None:
    s = screener()
    s._directory._list("acme", "tenant").index.add(NY)
    assert s.screen("acme", due(), NOW).event.outcome == "blocked"
    assert s.screen("globex", due(), NOW).event.outcome == "cleared"


@pytest.mark.parametrize(("number", "zones", "rule"), [
    ("+1212555", ("America/New_York",), "number.invalid"),
    (NY, ("Nowhere/Land",), "zone.invalid"),
    (NY, (), "zone.unknown"),
])
def test_bad_leads_are_blocked_never_cleared(number: str, zones: tuple[str, ...], rule: str) -> None:
    event = screener().screen("acme", due(number, zones), NOW).event
    assert event.outcome == "blocked" and rule in [r.rule_id for r in event.reasons]
    assert event.earliest_callable_at is None and event.valid_until is None


def test_an_unexpected_error_blocks_with_a_masked_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    s = screener()

    def broken(*_: Any) -> None:
        raise RuntimeError(f"index corrupted near {NY}")

    monkeypatch.setattr(s._directory, "hits", broken)
    screened = s.screen("acme", due(), NOW)
    (reason,) = screened.event.reasons
    assert screened.event.outcome == "blocked" and reason.rule_id == "screening.error"
    assert NY not in reason.message and "+1********23" in reason.message
    assert screened.event.policy_version == "none"


def test_the_effective_policy_is_merged_once_per_jurisdictions_tenant_campaign() -> None:
    s = screener()
    for _ in range(3):
        s.screen("acme", due(), NOW)
    s.screen("acme", due("+13055551234"), NOW)  # Miami: US + US-FL
    info = s._policy.cache_info()
    assert (info.misses, info.hits) == (2, 2)


def test_settings_refuse_registry_waivers_in_production() -> None:
    with pytest.raises(ValueError, match="waived_registries must be empty in production"):
        ComplianceSettings(environment="production", waived_registries=["US-DNC"])
    assert ComplianceSettings().clearance_max_s == 900

