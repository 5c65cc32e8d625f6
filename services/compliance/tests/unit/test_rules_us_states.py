"""One test per row of the US state overlays table of the rules document."""

from __future__ import annotations

from datetime import timedelta

import holidays
from compliance_kit import decide, facts, utc

from compliance.domain.decision import Attempt, Emergency

FL = "+13055551234"  # Miami, America/New_York
OK = "+14055551234"  # Oklahoma City, America/Chicago
MD = "+14105551234"  # Baltimore, America/New_York
CT = "+12035551234"  # America/New_York
WA = "+12065551234"  # Seattle, America/Los_Angeles
MS = "+16015551234"  # America/Chicago
LA = "+15045551234"  # New Orleans, America/Chicago
AL = "+12055551234"  # America/Chicago
UT = "+18015551234"  # America/Denver
TX = "+12145551234"  # Dallas, America/Chicago


def _attempts(
    number: str, *ats: str, subject: str = "solar", channel: str = "call"
) -> list[Attempt]:
    return [
        Attempt(
            at=utc(a),
            seller="acme",
            person_key=number,
            number=number,
            subject=subject,
            channel=channel,
        )  # type: ignore[arg-type]
        for a in ats
    ]


def test_florida_hours_end_at_20() -> None:
    assert decide(FL, "2025-01-16T00:59:59Z").outcome == "cleared"  # 19:59:59 EST
    assert decide(FL, "2025-01-16T01:00:00Z").outcome == "blocked"  # 20:00 EST


def test_florida_three_calls_per_24h_same_subject() -> None:
    now = utc("2025-01-15T18:00:00Z")
    tries = _attempts(FL, "2025-01-14T19:00:00Z", "2025-01-15T10:00:00Z", "2025-01-15T17:00:00Z")
    blocked = decide(FL, "2025-01-15T18:00:00Z", facts(now, attempts=tries), subject="solar")
    assert {r.rule_id for r in blocked.blocking} == {"cap.us-fl.attempts-24h"}
    assert blocked.earliest_callable_at == utc("2025-01-15T19:00:00Z")
    assert blocked.inputs["counters"]["cap.us-fl.attempts-24h"]["count"] == 3
    other = decide(FL, "2025-01-15T18:00:00Z", facts(now, attempts=tries), subject="roofing")
    assert other.outcome == "cleared"


def test_florida_area_code_presumption_beats_address() -> None:
    decision = decide(FL, "2025-01-16T01:30:00Z", address={"country": "US", "region": "GA"})
    assert "US-FL" in decision.jurisdictions
    assert decision.outcome == "blocked"  # 20:30 EST: legal in GA, not in FL


def test_oklahoma_hours_and_cap() -> None:
    assert decide(OK, "2025-01-16T01:59:59Z").outcome == "cleared"  # 19:59:59 CST
    assert decide(OK, "2025-01-16T02:00:00Z").outcome == "blocked"
    now = utc("2025-01-15T18:00:00Z")
    tries = _attempts(OK, "2025-01-15T15:00:00Z", "2025-01-15T16:00:00Z", "2025-01-15T17:00:00Z")
    assert (
        decide(OK, "2025-01-15T18:00:00Z", facts(now, attempts=tries), subject="solar").outcome
        == "blocked"
    )


def test_oklahoma_area_code_presumption() -> None:
    decision = decide(OK, "2025-01-15T18:00:00Z", address={"country": "US", "region": "TX"})
    assert {"US-OK", "US-TX"} <= set(decision.jurisdictions)


def test_maryland_counts_calls_and_texts() -> None:
    now = utc("2025-01-15T18:00:00Z")
    tries = _attempts(MD, "2025-01-15T14:00:00Z", "2025-01-15T15:00:00Z") + _attempts(
        MD, "2025-01-15T16:00:00Z", channel="text"
    )
    decision = decide(MD, "2025-01-15T18:00:00Z", facts(now, attempts=tries), subject="solar")
    assert {r.rule_id for r in decision.blocking} == {"cap.us-md.attempts-24h"}
    assert decide(MD, "2025-01-16T01:00:00Z").outcome == "blocked"  # 20:00 EST


def test_maryland_is_not_area_code_presumed() -> None:
    decision = decide(MD, "2025-01-16T01:30:00Z", address={"country": "US", "region": "VA"})
    assert "US-MD" not in decision.jurisdictions
    assert decision.outcome == "cleared"  # 20:30 EST, federal 21:00 applies


def test_connecticut_hours_09_to_20_and_presumption() -> None:
    assert decide(CT, "2025-01-15T13:59:59Z").outcome == "blocked"  # 08:59:59 EST
    assert decide(CT, "2025-01-15T14:00:00Z").outcome == "cleared"
    assert decide(CT, "2025-01-16T01:00:00Z").outcome == "blocked"
    moved = decide(CT, "2025-01-15T13:30:00Z", address={"country": "US", "region": "NY"})
    assert "US-CT" in moved.jurisdictions and moved.outcome == "blocked"


def test_washington_hours_end_at_20() -> None:
    assert decide(WA, "2025-01-16T03:59:59Z").outcome == "cleared"  # 19:59:59 PST
    assert decide(WA, "2025-01-16T04:00:00Z").outcome == "blocked"


def test_mississippi_no_sundays() -> None:
    sunday = decide(MS, "2025-01-19T18:00:00Z")  # Sunday noon CST
    assert sunday.outcome == "blocked"
    assert sunday.earliest_callable_at == utc("2025-01-20T14:00:00Z")  # Monday 08:00 CST
    assert decide(MS, "2025-01-16T02:00:00Z").outcome == "blocked"  # 20:00 CST


def test_louisiana_sundays_state_holidays_and_emergencies() -> None:
    assert decide(LA, "2025-01-19T18:00:00Z").outcome == "blocked"  # Sunday
    mardi_gras = decide(LA, "2025-03-04T18:00:00Z")
    assert mardi_gras.outcome == "blocked" and "Mardi Gras" in mardi_gras.blocking[0].text
    assert mardi_gras.earliest_callable_at == utc("2025-03-05T14:00:00Z")
    assert decide(MS, "2025-03-04T18:00:00Z").outcome == "cleared"  # not a holiday in MS
    now = utc("2025-01-15T18:00:00Z")
    storm = Emergency(
        jurisdiction="US-LA", declared_at=now - timedelta(days=1), lifted_at=now + timedelta(days=2)
    )
    decision = decide(LA, "2025-01-15T18:00:00Z", facts(now, emergencies=[storm]))
    assert {r.rule_id for r in decision.blocking} == {"emergency.declared"}
    assert decision.earliest_callable_at == utc("2025-01-17T18:00:00Z")
    ongoing = storm.model_copy(update={"lifted_at": None})
    assert (
        decide(LA, "2025-01-15T18:00:00Z", facts(now, emergencies=[ongoing])).earliest_callable_at
        is None
    )


def _state_only_holiday(state: str, year: int) -> str:
    federal = holidays.country_holidays("US", years=year)
    local = holidays.country_holidays("US", subdiv=state, years=year)
    day = next(d for d in sorted(local) if d not in federal and d.weekday() < 5)
    return day.isoformat()


def test_alabama_sundays_and_state_holidays() -> None:
    assert decide(AL, "2025-01-19T18:00:00Z").outcome == "blocked"
    day = _state_only_holiday("AL", 2025)
    assert decide(AL, f"{day}T18:00:00Z").outcome == "blocked"
    assert decide(MS, f"{day}T18:00:00Z").outcome == "cleared"
    assert decide(AL, "2025-01-16T02:00:00Z").outcome == "blocked"  # 20:00 CST


def test_utah_sundays_and_state_holidays_with_federal_hours() -> None:
    assert decide(UT, "2025-01-19T18:00:00Z").outcome == "blocked"  # Sunday
    pioneer_day = decide(UT, "2025-07-24T18:00:00Z")
    assert pioneer_day.outcome == "blocked"
    assert decide(UT, "2025-01-16T03:30:00Z").outcome == "cleared"  # 20:30 MST: federal 21:00


def test_texas_09_to_21_and_sunday_from_noon() -> None:
    assert decide(TX, "2025-01-15T14:59:59Z").outcome == "blocked"  # 08:59:59 CST
    assert decide(TX, "2025-01-15T15:00:00Z").outcome == "cleared"
    assert decide(TX, "2025-01-16T02:59:59Z").outcome == "cleared"  # 20:59:59 CST
    sunday_morning = decide(TX, "2025-01-19T17:59:00Z")  # Sunday 11:59 CST
    assert sunday_morning.outcome == "blocked"
    assert sunday_morning.earliest_callable_at == utc("2025-01-19T18:00:00Z")
