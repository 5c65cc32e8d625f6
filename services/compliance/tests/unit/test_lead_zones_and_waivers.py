"""Domain additions for the service layer: the lead record's zones (united, fail closed
when empty) and configured registry waivers (a note, never a silent pass)."""

from __future__ import annotations

import pytest
from compliance_kit import decide, rule_ids, utc

from compliance.domain.decision import ScreeningFacts
from compliance.domain.errors import UnknownTimeZoneError
from compliance.domain.zones import CandidateZone

NY = "+12125550123"
LA_ZONE = CandidateZone(zone="America/Los_Angeles", source="postal_code", detail="lead record")


def test_lead_zones_are_united_with_the_located_ones() -> None:
    # 15:30Z is 10:30 in New York but 07:30 in Los Angeles: closed there until 08:00.
    early = decide(NY, "2025-01-15T15:30:00Z", lead_zones=[LA_ZONE])
    assert {z.zone for z in early.zones} == {"America/New_York", "America/Los_Angeles"}
    assert rule_ids(early) == {"hours.closed"}
    assert early.earliest_callable_at == utc("2025-01-15T16:00:00Z")  # 08:00 LA
    assert decide(NY, "2025-01-15T16:30:00Z", lead_zones=[LA_ZONE]).outcome == "cleared"


def test_a_lead_recorded_without_zones_is_blocked_even_if_the_number_locates_it() -> None:
    decision = decide(NY, "2025-01-15T20:00:00Z", lead_zones=[])
    assert rule_ids(decision) == {"zone.unknown"}
    assert decision.earliest_callable_at is None
    assert "lead record carries no candidate time zone" in decision.blocking[0].text
    assert decide(NY, "2025-01-15T20:00:00Z").outcome == "cleared"  # None: not given


def test_a_lead_zone_outside_the_iana_database_is_refused() -> None:
    with pytest.raises(UnknownTimeZoneError, match="Mars/Olympus"):
        decide(NY, "2025-01-15T20:00:00Z",
               lead_zones=[CandidateZone(zone="Mars/Olympus", source="explicit", detail="x")])


def test_an_explicit_lead_zone_locates_a_non_geographic_number() -> None:
    explicit = CandidateZone(zone="America/Chicago", source="explicit", detail="lead record")
    assert rule_ids(decide("+18005551234", "2025-01-15T20:00:00Z")) == {"zone.non_geographic"}
    assert decide("+18005551234", "2025-01-15T20:00:00Z", lead_zones=[explicit]).outcome \
        == "cleared"


def test_a_waived_registry_is_a_note_and_only_when_no_copy_exists() -> None:
    missing = decide(NY, "2025-01-15T20:00:00Z", ScreeningFacts())
    assert rule_ids(missing) == {"registry.missing"}
    waived = decide(NY, "2025-01-15T20:00:00Z", ScreeningFacts(waived_registries=["US-DNC"]))
    assert waived.outcome == "cleared"
    assert [(r.rule_id, r.effect) for r in waived.reasons] == [("registry.waived", "note")]
    other = ScreeningFacts(waived_registries=["CA-DNCL"])
    assert rule_ids(decide(NY, "2025-01-15T20:00:00Z", other)) == {"registry.missing"}
