"""One test per row of the US federal table of the rules document."""

from __future__ import annotations

from datetime import timedelta

from compliance_kit import bundled, decide, facts, request, utc

from compliance.domain.decision import (
    Consent,
    DncHit,
    RegistryCopy,
    Relationship,
)
from compliance.domain.policy import PolicyCatalog
from compliance.domain.rules import screen

NY = "+12125550123"  # America/New_York; January is EST (UTC-5)


def test_calling_hours_08_to_21_local() -> None:
    assert decide(NY, "2025-01-15T12:59:59Z").outcome == "blocked"  # 07:59:59 EST
    assert decide(NY, "2025-01-15T13:00:00Z").outcome == "cleared"  # 08:00 EST
    assert decide(NY, "2025-01-16T01:59:59Z").outcome == "cleared"  # 20:59:59 EST
    late = decide(NY, "2025-01-16T02:00:00Z")  # 21:00 EST
    assert late.outcome == "blocked"
    assert late.earliest_callable_at == utc("2025-01-16T13:00:00Z")


def test_cleared_decision_is_valid_until_the_window_closes() -> None:
    decision = decide(NY, "2025-01-15T15:00:00Z")
    assert decision.valid_until == utc("2025-01-16T02:00:00Z")


def test_national_registry_hit_blocks_permanently() -> None:
    now = utc("2025-01-15T15:00:00Z")
    hit = DncHit(list_name="US-DNC", kind="national", version="2025-01-14")
    decision = decide(NY, "2025-01-15T15:00:00Z", facts(now, dnc_hits=[hit]))
    assert {r.rule_id for r in decision.blocking} == {"dnc.national"}
    assert decision.earliest_callable_at is None


def test_registry_copy_older_than_31_days_blocks_everything() -> None:
    now = utc("2025-01-15T15:00:00Z")
    old = RegistryCopy(name="US-DNC", version="old", downloaded_at=now - timedelta(days=31))
    decision = decide(NY, "2025-01-15T15:00:00Z", facts(now, registry_copies=[old]))
    assert "registry.stale" in {r.rule_id for r in decision.blocking}
    assert decision.earliest_callable_at is None  # needs a fresh copy, not time


def test_registry_copy_missing_blocks() -> None:
    now = utc("2025-01-15T15:00:00Z")
    decision = decide(NY, "2025-01-15T15:00:00Z", facts(now, registry_copies=[]))
    assert "registry.missing" in {r.rule_id for r in decision.blocking}


def test_internal_dnc_is_honoured_at_once_and_retained_5_years() -> None:
    now = utc("2025-01-15T15:00:00Z")
    hit = DncHit(list_name="acme-internal", kind="internal", version="evt-42", recorded_at=now)
    decision = decide(NY, "2025-01-15T15:00:00Z", facts(now, dnc_hits=[hit]))
    assert [r.rule_id for r in decision.blocking] == ["dnc.internal"]
    assert decision.blocking[0].permanent
    policy = bundled().effective_policy(["US"])
    assert policy.internal_dnc is not None
    assert policy.internal_dnc.retention.months == 60


def test_established_business_relationship_exempts_registry_hit() -> None:
    now = utc("2025-01-15T15:00:00Z")
    hit = DncHit(list_name="US-DNC", kind="national", version="v")
    purchase = Relationship(kind="purchase", at=utc("2023-08-20T12:00:00Z"), seller="acme")
    cleared = decide(
        NY, "2025-01-15T15:00:00Z", facts(now, dnc_hits=[hit], relationships=[purchase])
    )
    assert cleared.outcome == "cleared"
    assert "dnc.ebr_exemption" in {r.rule_id for r in cleared.reasons}
    expired = Relationship(kind="purchase", at=utc("2023-07-01T12:00:00Z"), seller="acme")
    blocked = decide(
        NY, "2025-01-15T15:00:00Z", facts(now, dnc_hits=[hit], relationships=[expired])
    )
    assert blocked.outcome == "blocked"


def test_ebr_after_inquiry_lasts_3_months_and_ends_valid_until() -> None:
    now = utc("2025-01-15T15:00:00Z")
    hit = DncHit(list_name="US-DNC", kind="national", version="v")
    inquiry = Relationship(kind="inquiry", at=utc("2024-10-20T14:00:00Z"), seller="acme")
    ok = decide(NY, "2025-01-15T15:00:00Z", facts(now, dnc_hits=[hit], relationships=[inquiry]))
    assert ok.outcome == "cleared"
    old = Relationship(kind="inquiry", at=utc("2024-10-10T14:00:00Z"), seller="acme")
    assert (
        decide(NY, "2025-01-15T15:00:00Z", facts(now, dnc_hits=[hit], relationships=[old])).outcome
        == "blocked"
    )
    other_seller = Relationship(kind="inquiry", at=utc("2024-12-20T14:00:00Z"), seller="globex")
    assert (
        decide(
            NY, "2025-01-15T15:00:00Z", facts(now, dnc_hits=[hit], relationships=[other_seller])
        ).outcome
        == "blocked"
    )


def test_internal_dnc_request_ends_the_ebr() -> None:
    now = utc("2025-01-15T15:00:00Z")
    hits = [
        DncHit(list_name="US-DNC", kind="national", version="v"),
        DncHit(list_name="acme-internal", kind="internal", version="e1"),
    ]
    purchase = Relationship(kind="purchase", at=utc("2024-12-01T12:00:00Z"), seller="acme")
    decision = decide(
        NY, "2025-01-15T15:00:00Z", facts(now, dnc_hits=hits, relationships=[purchase])
    )
    assert {r.rule_id for r in decision.blocking} == {"dnc.internal", "dnc.national"}


def test_abandonment_budget_3_percent_per_30_days_2_seconds_15_s_ring() -> None:
    (budget,) = bundled().effective_policy(["US"]).abandonment
    assert (budget.max_rate, budget.period.days, budget.connect_within_s, budget.min_ring_s) == (
        0.03,
        30,
        2,
        15,
    )


def test_caller_id_must_be_transmitted() -> None:
    decision = decide(NY, "2025-01-15T15:00:00Z", caller_id=None)
    assert {r.rule_id for r in decision.blocking} == {"caller_id.missing"}


CONSENT_CAMPAIGN = """
schema: kaden.policy-pack/1
id: acme-consent
kind: campaign
tenant_id: acme
campaign_id: c-consent
version: "1"
tightens: [US]
requires_consent: true
"""


def _consent_catalog() -> PolicyCatalog:
    catalog = PolicyCatalog.bundled()
    catalog.load(CONSENT_CAMPAIGN, "acme-consent.yaml")
    return catalog


def test_reassigned_number_is_not_covered_by_earlier_consent() -> None:
    catalog = _consent_catalog()
    now = utc("2025-01-15T15:00:00Z")
    req = request(NY, campaign_id="c-consent")
    grant = Consent(seller="acme", number=NY, granted_at=utc("2024-01-01T00:00:00Z"))
    base = facts(now, consents=[grant])
    assert screen(req, catalog, base, now).outcome == "cleared"
    reassigned = base.model_copy(update={"disconnected_at": utc("2024-06-01T00:00:00Z")})
    decision = screen(req, catalog, reassigned, now)
    assert {r.rule_id for r in decision.blocking} == {"consent.reassigned"}
    renewed = reassigned.model_copy(
        update={
            "consents": [
                grant,
                Consent(seller="acme", number=NY, granted_at=utc("2024-07-01T00:00:00Z")),
            ]
        }
    )
    assert screen(req, catalog, renewed, now).outcome == "cleared"


def test_campaign_requiring_consent_blocks_without_one() -> None:
    catalog = _consent_catalog()
    now = utc("2025-01-15T15:00:00Z")
    decision = screen(request(NY, campaign_id="c-consent"), catalog, facts(now), now)
    assert {r.rule_id for r in decision.blocking} == {"consent.missing"}
    other_campaign = screen(request(NY), catalog, facts(now), now)
    assert other_campaign.outcome == "cleared"
