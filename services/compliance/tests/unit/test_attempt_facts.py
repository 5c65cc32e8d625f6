"""Facts from events without I/O: call outcomes, the refusal mapping, and screening with
campaign facts, attempts, refusals and consents (what ``lead_facts`` hands the Screener)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from compliance_kit import bundled, utc

from common.clock import FixedClock
from common.events.catalog import CandidateZone, DispositionSubmittedV1, LeadDueV1
from common.eventstore import EventStore
from compliance.app.dnc_directory import DncDirectory
from compliance.app.facts import is_refusal, merge_outcome
from compliance.app.lead_facts import CampaignFacts, ConsentFact, LeadFacts, PastFact
from compliance.app.screening import Screener
from compliance.settings import ComplianceSettings

MIAMI = "+13055551234"
TOKYO = "+81312345678"
NOW = utc("2025-01-15T20:00:00Z")  # 15:00 in Miami (EST), a Wednesday
SOLAR = CampaignFacts("running", "+13055550100", "solar", requires_consent=False)


def screener() -> Screener:
    return Screener(bundled(), DncDirectory(), EventStore("/test"), FixedClock(NOW),
                    ComplianceSettings(caller_id=None,
                                       waived_registries=["US-DNC", "FR-BLOCTEL", "GB-TPS"]))


def due(number: str = MIAMI, zone: str = "America/New_York", campaign: str = "c1") -> LeadDueV1:
    return LeadDueV1(lead_id="lead-1", list_id="l1", campaign_id=campaign, attempt=1,
                     due_at=NOW, phone_e164=number, country="US",
                     candidate_zones=[CandidateZone(zone=zone, source="number_prefix")])


def facts(number: str = MIAMI, campaign: CampaignFacts | None = SOLAR, **kw: Any) -> LeadFacts:
    return LeadFacts("acme", number, "c1", campaign, **kw)


def rules(lead: LeadFacts, d: LeadDueV1 | None = None) -> tuple[str, list[str], Any]:
    event = screener().screen("acme", d or due(), NOW, facts=lead).event
    return event.outcome, [r.rule_id for r in event.reasons], event.earliest_callable_at


def calls(*hours_ago: float, product: str | None = "solar", outcome: Any = "no_answer"
          ) -> tuple[PastFact, ...]:
    return tuple(PastFact(NOW - timedelta(hours=h), "c1", product, outcome) for h in hours_ago)


@pytest.mark.parametrize(("current", "new", "merged"), [
    (None, "answered", "answered"), ("abandoned", "answered", "abandoned"),
    ("machine", "failed", "machine"), ("no_answer", "abandoned", "abandoned"),
    ("answered", None, "answered"),
])
def test_a_calls_outcome_keeps_the_most_telling_event(current: Any, new: Any, merged: Any) -> None:
    assert merge_outcome(current, new) == merged


@pytest.mark.parametrize(("disposition", "category", "refused"), [
    ("not_interested", "contact", True), ("refused", "other", True),
    ("do_not_call", "dnc", True), ("opt_out", "dnc", True),
    ("sale", "success", False), ("callback", "callback", False), ("no_contact", "other", False),
])
def test_refusal_mapping(disposition: str, category: Any, refused: bool) -> None:
    p = DispositionSubmittedV1(agent_id="a", call_id="c", lead_id="l", campaign_id="c1",
                               disposition=disposition, category=category, at=NOW)
    assert is_refusal(p, {"not_interested", "refused", "do_not_call"}) is refused


def test_the_fourth_call_in_24h_to_a_florida_number_is_capped_until_the_first_ages_out() -> None:
    assert rules(facts(past_attempts=calls(3, 2)))[0] == "cleared"
    outcome, fired, earliest = rules(facts(past_attempts=calls(3, 2, 1)))
    assert outcome == "blocked" and fired == ["cap.us-fl.attempts-24h"]
    assert earliest == NOW - timedelta(hours=3) + timedelta(hours=24)


def test_calls_on_another_subject_do_not_count_but_an_unknown_subject_does() -> None:
    assert rules(facts(past_attempts=calls(3, 2, 1, product="pension")))[0] == "cleared"
    assert rules(facts(past_attempts=calls(3, 2, 1, product=None)))[0] == "blocked"
    # A lead of a campaign without a product has no subject: every subject counts.
    no_product = CampaignFacts("running", "+13055550100", None, requires_consent=False)
    assert rules(facts(campaign=no_product, past_attempts=calls(3, 2, 1, product="pension")))[1] \
        == ["cap.us-fl.attempts-24h"]


def test_the_campaign_caller_id_is_used_and_the_setting_is_the_fallback() -> None:
    assert rules(facts())[0] == "cleared"  # the setting is None in this screener
    no_caller_id = CampaignFacts("running", None, "solar", requires_consent=False)
    outcome, fired, _ = rules(facts(campaign=no_caller_id))
    assert outcome == "blocked" and fired == ["caller_id.missing"]


def test_an_unknown_campaign_blocks_even_with_a_consent_and_a_clean_history() -> None:
    row = ConsentFact(None, None, granted_at=NOW - timedelta(days=3), revoked_at=None)
    outcome, fired, earliest = rules(facts(campaign=None, consent_rows=(row,)))
    assert (outcome, fired, earliest) == ("blocked", ["campaign.unknown"],
                                          NOW + timedelta(seconds=10))


def test_a_consent_campaign_needs_an_unrevoked_consent_in_scope() -> None:
    needs = CampaignFacts("running", "+13055550100", "solar", requires_consent=True)
    granted = NOW - timedelta(days=3)
    assert rules(facts(campaign=needs))[1] == ["consent.missing"]
    for scope in ((None, None), ("c1", None), (None, "solar"), ("c1", "solar")):
        row = ConsentFact(*scope, granted_at=granted, revoked_at=None)
        assert rules(facts(campaign=needs, consent_rows=(row,)))[0] == "cleared", scope
    for scope in (("c2", None), (None, "pension")):
        row = ConsentFact(*scope, granted_at=granted, revoked_at=None)
        assert rules(facts(campaign=needs, consent_rows=(row,)))[1] == ["consent.missing"]
    revoked = ConsentFact(None, None, granted, revoked_at=NOW - timedelta(seconds=1))
    assert rules(facts(campaign=needs, consent_rows=(revoked,)))[1] == ["consent.missing"]
    # A campaign that does not require consent ignores consents altogether.
    assert rules(facts(consent_rows=(revoked,)))[0] == "cleared"


def test_a_japanese_refusal_bans_that_product_for_good_not_another() -> None:
    jp = due(TOKYO, "Asia/Tokyo")
    refusal = (PastFact(NOW - timedelta(days=900), "c0", "solar"),)
    _, fired, earliest = rules(facts(TOKYO, past_refusals=refusal), jp)
    assert "refusal.jp.resolicitation" in fired and earliest is None
    pension = CampaignFacts("running", None, "pension", requires_consent=False)
    _, fired, _ = rules(facts(TOKYO, campaign=pension, past_refusals=refusal), jp)
    assert "refusal.jp.resolicitation" not in fired


def test_a_french_refusal_blocks_for_60_days() -> None:
    paris = due("+33142685300", "Europe/Paris")
    recent = (PastFact(NOW - timedelta(days=59), "c0", "solar"),)
    old = (PastFact(NOW - timedelta(days=61), "c0", "solar"),)
    _, fired, earliest = rules(facts("+33142685300", past_refusals=recent), paris)
    assert "refusal.fr.after-refusal" in fired
    assert earliest is not None and earliest >= recent[0].at + timedelta(days=60)
    assert "refusal.fr.after-refusal" not in rules(facts("+33142685300", past_refusals=old),
                                                   paris)[1]


def test_uk_redial_rules_read_the_attempt_outcomes() -> None:
    london = due("+442079460000", "Europe/London")
    at_noon = NOW.replace(hour=12)  # 12:00 London, earlier the same day
    abandoned = (PastFact(NOW - timedelta(hours=48), "c1", "solar", "abandoned"),)
    machine = (PastFact(at_noon, "c1", "solar", "machine"),)
    uk = facts("+442079460000")
    _, fired, _ = rules(LeadFacts(**{**uk.__dict__, "past_attempts": abandoned}), london)
    assert "redial.gb.after-abandoned" in fired
    _, fired, _ = rules(LeadFacts(**{**uk.__dict__, "past_attempts": machine}), london)
    assert "redial.gb.after-machine" in fired
    answered = (PastFact(NOW - timedelta(hours=1), "c1", "solar", "answered"),)
    _, fired, _ = rules(LeadFacts(**{**uk.__dict__, "past_attempts": answered}), london)
    assert not [r for r in fired if r.startswith("redial.")]


def test_facts_summary_keeps_counts_not_numbers() -> None:
    summary = facts(past_attempts=calls(1)).summary()
    assert summary["attempts"] == 1 and summary["campaign"]["product"] == "solar"
    assert MIAMI not in str(summary)
