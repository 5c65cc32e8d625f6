"""The edge-case table of docs/compliance.md, one test per row (ids E01…E21)."""

from __future__ import annotations

from datetime import timedelta

from compliance_kit import bundled, decide, facts, request, utc

from common.clock import FixedClock
from common.events.catalog import CandidateZone as DueZone
from common.events.catalog import LeadDueV1
from common.eventstore import EventStore
from compliance.app.dnc_directory import DncDirectory
from compliance.app.lead_facts import CampaignFacts, LeadFacts
from compliance.app.screening import Screener
from compliance.domain.decision import (
    Attempt,
    Decision,
    DncHit,
    Refusal,
    RegistryCopy,
)
from compliance.domain.rules import evaluate, screen
from compliance.domain.zones import Address, CandidateZone, Location, NumberFacts
from compliance.settings import ComplianceSettings

NY = "+12125550123"


def blocked_by(decision: Decision) -> set[str]:
    return {r.rule_id for r in decision.blocking}


def test_E01_window_start_instant_is_inside() -> None:
    assert decide(NY, "2025-01-15T13:00:00Z").outcome == "cleared"  # 08:00:00.000000 EST


def test_E02_window_end_instant_is_outside() -> None:
    assert decide(NY, "2025-01-16T01:59:59.999999Z").outcome == "cleared"
    assert decide(NY, "2025-01-16T02:00:00Z").outcome == "blocked"


def test_E03_spring_forward_day_uses_the_new_offset() -> None:
    assert decide(NY, "2025-03-09T11:59:59Z").outcome == "blocked"  # 07:59:59 EDT
    cleared = decide(NY, "2025-03-09T12:00:00Z")  # 08:00 EDT (13:00Z the day before)
    assert cleared.outcome == "cleared"
    assert cleared.valid_until == utc("2025-03-10T01:00:00Z")  # 21:00 EDT


def test_E04_fall_back_day_never_reuses_a_cached_offset() -> None:
    # 12:30Z on Nov 2 is 07:30 EST; with the summer offset it would wrongly be 08:30.
    early = decide(NY, "2025-11-02T12:30:00Z")
    assert early.outcome == "blocked"
    assert early.earliest_callable_at == utc("2025-11-02T13:00:00Z")


def test_E05_split_area_code_uses_the_finest_prefix() -> None:
    now = "2025-01-15T13:30:00Z"  # 08:30 EST, 07:30 CST
    assert decide("+18502221234", now).outcome == "cleared"  # Tallahassee, Eastern
    pensacola = decide("+18504321234", now)  # Pensacola, Central
    assert pensacola.outcome == "blocked"
    assert pensacola.earliest_callable_at == utc("2025-01-15T14:00:00Z")


def test_E06_multi_zone_number_must_be_open_in_every_zone() -> None:
    # +1 709: America/St_Johns (UTC-3:30) and America/Halifax (UTC-4) in January.
    decision = decide("+17095551234", "2025-01-16T01:15:00Z")  # 21:45 St_Johns, 21:15 Halifax
    assert decision.outcome == "blocked"
    assert {z.zone for z in decision.zones} == {"America/St_Johns", "America/Halifax"}


def test_E07_half_hour_zone_opens_on_the_half_hour() -> None:
    early = decide("+17095551234", "2025-01-15T12:59:00Z")  # 09:29 St_Johns, 08:59 Halifax
    assert early.outcome == "blocked"
    assert early.earliest_callable_at == utc("2025-01-15T13:00:00Z")  # Halifax 09:00
    closing = decide("+17095551234", "2025-01-15T14:00:00Z")
    assert closing.valid_until == utc("2025-01-16T01:00:00Z")  # 21:30 St_Johns


def test_E08_address_and_number_disagree_both_zones_apply() -> None:
    decision = decide(NY, "2025-01-15T14:00:00Z", address={"country": "US", "postal_code": "90210"})
    assert {(z.zone, z.source) for z in decision.zones} == {
        ("America/New_York", "phone_prefix"),
        ("America/Los_Angeles", "postal_code"),
    }
    assert decision.outcome == "blocked"  # 09:00 NY but 06:00 LA
    assert decision.earliest_callable_at == utc("2025-01-15T16:00:00Z")


def test_E09_area_code_presumption_applies_the_number_state() -> None:
    decision = decide(
        "+13055551234", "2025-01-16T01:30:00Z", address={"country": "US", "region": "GA"}
    )
    assert decision.outcome == "blocked" and "US-FL" in decision.jurisdictions


def test_E10_no_presumption_means_the_address_state_governs() -> None:
    address = {"country": "US", "region": "OR", "postal_code": "97201"}  # Portland
    decision = decide("+12065551234", "2025-01-16T04:30:00Z", address=address)
    assert "US-WA" not in decision.jurisdictions
    assert decision.outcome == "cleared"  # 20:30 PST: federal 21:00, no WA overlay
    # Without the ZIP, Oregon's state fallback also holds America/Boise (21:30 MST there).
    state_only = decide(
        "+12065551234", "2025-01-16T04:30:00Z", address={"country": "US", "region": "OR"}
    )
    assert state_only.outcome == "blocked" and "America/Boise" in state_only.blocking[0].text


def test_E11_rolling_cap_at_the_exact_boundary() -> None:
    first = utc("2025-01-14T18:00:00Z")
    tries = [
        Attempt(
            at=first + timedelta(hours=h),
            seller="acme",
            person_key="p",
            number="+13055551234",
            subject="s",
        )
        for h in (0, 5, 10)
    ]
    fl = "+13055551234"
    just_before = first + timedelta(hours=24) - timedelta(microseconds=1)
    blocked = screen(
        request(fl, person_key="p", subject="s"),
        bundled(),
        facts(just_before, attempts=tries),
        just_before,
    )
    assert blocked_by(blocked) == {"cap.us-fl.attempts-24h"}
    assert blocked.earliest_callable_at == first + timedelta(hours=24)
    at_boundary = first + timedelta(hours=24)
    cleared = screen(
        request(fl, person_key="p", subject="s"),
        bundled(),
        facts(at_boundary, attempts=tries),
        at_boundary,
    )
    assert cleared.outcome == "cleared"


def test_E12_dnc_request_mid_campaign_takes_effect_at_once() -> None:
    now = utc("2025-01-15T15:00:00Z")
    assert decide(NY, "2025-01-15T15:00:00Z").outcome == "cleared"
    later = now + timedelta(seconds=1)
    hit = DncHit(list_name="acme-internal", kind="internal", version="evt-7", recorded_at=now)
    decision = screen(request(NY), bundled(), facts(later, dnc_hits=[hit]), later)
    assert blocked_by(decision) == {"dnc.internal"} and decision.earliest_callable_at is None


def test_E13_registry_copy_at_exactly_31_days_is_stale() -> None:
    now = utc("2025-01-15T15:00:00Z")
    fresh = RegistryCopy(
        name="US-DNC", version="v", downloaded_at=now - timedelta(days=31) + timedelta(seconds=1)
    )
    ok = decide(NY, "2025-01-15T15:00:00Z", facts(now, registry_copies=[fresh]))
    assert ok.outcome == "cleared" and ok.valid_until == now + timedelta(seconds=1)
    stale = RegistryCopy(name="US-DNC", version="v", downloaded_at=now - timedelta(days=31))
    assert blocked_by(decide(NY, "2025-01-15T15:00:00Z", facts(now, registry_copies=[stale]))) == {
        "registry.stale"
    }


def test_E14_toll_free_without_explicit_zone_is_blocked() -> None:
    blocked = decide(
        "+18005551234", "2025-01-15T15:00:00Z", address={"country": "US", "region": "NY"}
    )
    assert blocked_by(blocked) == {"zone.non_geographic"} and blocked.earliest_callable_at is None
    explicit = decide("+18005551234", "2025-01-15T15:00:00Z", explicit_zone="America/Chicago")
    assert explicit.outcome == "cleared"


def test_E15_no_candidate_zone_is_blocked() -> None:
    location = Location(
        number=NumberFacts(
            masked="+3*******00", region="FR", kind="mobile", number_type="mobile", subdivisions=[]
        ),
        address=Address(),
        zones=[],
    )
    now = utc("2025-01-15T10:00:00Z")
    decision = evaluate(
        request("+33612345678"), bundled().effective_policy(["FR"]), facts(now), now, location
    )
    assert blocked_by(decision) == {"zone.unknown"}


def test_E16_japan_refusal_is_permanent_france_refusal_expires() -> None:
    now = utc("2030-01-15T03:00:00Z")
    jp = Refusal(
        at=utc("2025-01-01T00:00:00Z"),
        seller="acme",
        person_key="+81312345678",
        number="+81312345678",
        product="x",
    )
    assert (
        decide(
            "+81312345678", "2030-01-15T03:00:00Z", facts(now, refusals=[jp]), product="x"
        ).earliest_callable_at
        is None
    )
    fr_now = utc("2025-03-07T09:59:59Z")
    fr = Refusal(
        at=utc("2025-01-06T10:00:00Z"),
        seller="acme",
        person_key="+33142685300",
        number="+33142685300",
    )
    assert (
        decide("+33142685300", "2025-03-07T09:59:59Z", facts(fr_now, refusals=[fr])).outcome
        == "blocked"
    )
    later = fr_now + timedelta(seconds=1)
    assert (
        decide("+33142685300", "2025-03-07T10:00:00Z", facts(later, refusals=[fr])).outcome
        == "cleared"
    )


def test_E17_earliest_callable_combines_cap_expiry_and_windows() -> None:
    # FL cap lifts at 02:00Z (21:00 EST), after FL's 20:00 close: next day 08:00 EST.
    tries = [
        Attempt(at=utc(t), seller="acme", person_key="+13055551234", number="+13055551234")
        for t in ("2025-01-15T02:00:00Z", "2025-01-15T14:00:00Z", "2025-01-15T15:00:00Z")
    ]
    now = utc("2025-01-15T16:00:00Z")
    decision = decide("+13055551234", "2025-01-15T16:00:00Z", facts(now, attempts=tries))
    assert decision.earliest_callable_at == utc("2025-01-16T13:00:00Z")


def test_E18_every_block_reason_is_recorded_at_once() -> None:
    now = utc("2025-01-19T18:00:00Z")  # Sunday
    hit = DncHit(list_name="US-DNC", kind="national", version="v")
    decision = decide(
        "+16015551234", "2025-01-19T18:00:00Z", facts(now, dnc_hits=[hit]), caller_id=None
    )
    assert blocked_by(decision) == {"dnc.national", "caller_id.missing", "hours.closed"}


def test_E19_decision_record_round_trips_as_json() -> None:
    decision = decide("+17095551234", "2025-01-16T01:15:00Z")
    restored = Decision.model_validate(decision.to_dict())
    assert restored == decision
    record = decision.to_dict()
    assert record["policy_version"].startswith("sha256:")
    assert "7095551234" not in str(record)  # the number only appears masked


def test_E20_unknown_country_blocks_with_precise_reason() -> None:
    decision = decide("+4930123456", "2025-01-15T10:00:00Z", address=Address(country="DE"))
    assert [r.text for r in decision.blocking] == ["no policy pack covers jurisdiction DE"]


def test_candidate_zone_provenance_is_in_the_record() -> None:
    decision = decide(NY, "2025-01-15T15:00:00Z", explicit_zone="America/New_York")
    assert (
        CandidateZone(zone="America/New_York", source="explicit", detail="lead") in decision.zones
    )


def test_E21_campaign_settings_not_yet_known_block_for_a_short_retry() -> None:
    # 15:00 in New York with a caller ID setting: everything else would clear, but the
    # campaign's settings (a consent requirement, its product) are still missing.
    now = utc("2025-01-15T20:00:00Z")
    s = Screener(bundled(), DncDirectory(), EventStore("/test"), FixedClock(now),
                 ComplianceSettings(caller_id="+12125550100", waived_registries=["US-DNC"],
                                    unknown_campaign_retry_s=30))

    def due(number: str = NY) -> LeadDueV1:
        return LeadDueV1(lead_id="lead-1", list_id="l1", campaign_id="c1", attempt=1,
                         due_at=now, phone_e164=number, country="US",
                         candidate_zones=[DueZone(zone="America/New_York", source="number_prefix")])

    def lead(d: LeadDueV1, known: bool) -> LeadFacts:
        campaign = CampaignFacts("running", None, "solar", requires_consent=False)
        return LeadFacts("acme", d.phone_e164, "c1", campaign if known else None)

    unknown = s.screen("acme", due(), now, facts=lead(due(), known=False))
    event = unknown.event
    assert event.outcome == "blocked" and event.valid_until is None
    assert [r.rule_id for r in event.reasons] == ["campaign.unknown"]
    assert "not yet received the settings of campaign c1" in event.reasons[0].message
    assert event.earliest_callable_at == now + timedelta(seconds=30)  # leads re-dues then
    assert unknown.record["reasons"][0]["until"] == "2025-01-15T20:00:30Z"
    assert event.policy_version == "none" and event.inputs["facts"]["campaign"] is None
    # Once the campaign is known the lead is screened normally (setting's caller ID).
    assert s.screen("acme", due(), now, facts=lead(due(), known=True)).event.outcome == "cleared"
    # A number that would be blocked for good is retried, never closed, until then.
    bad = due("+1212555")
    assert s.screen("acme", bad, now, facts=lead(bad, known=False)).event.earliest_callable_at
    assert s.screen("acme", bad, now, facts=lead(bad, known=True)).event.reasons[0].rule_id \
        == "number.invalid"
