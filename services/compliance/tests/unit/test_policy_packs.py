"""Pack loading, validation errors, tighten-only overlays, merge and content hash."""

from __future__ import annotations

from pathlib import Path

import pytest
from compliance_kit import bundled, decide, facts, request, utc

from compliance.domain.errors import (
    LooseningOverlayError,
    PolicyPackError,
    UnknownJurisdictionError,
)
from compliance.domain.policy import PolicyCatalog
from compliance.domain.rules import screen

PACKS = Path(__file__).parents[2] / "src" / "compliance" / "packs"

RULES_DOC_JURISDICTIONS = {
    "US",
    "US-FL",
    "US-OK",
    "US-MD",
    "US-CT",
    "US-WA",
    "US-MS",
    "US-LA",
    "US-AL",
    "US-UT",
    "US-TX",
    "CA",
    "GB",
    "JP",
    "FR",
}


def test_every_jurisdiction_of_the_rules_document_has_a_cited_pack() -> None:
    catalog = bundled()
    assert {catalog.pack(i).jurisdiction for i in catalog.pack_ids} == RULES_DOC_JURISDICTIONS
    assert all(catalog.pack(i).sources for i in catalog.pack_ids)


def _error(text: str, origin: str = "bad.yaml") -> PolicyPackError:
    with pytest.raises(PolicyPackError) as info:
        PolicyCatalog.bundled().load(text, origin)
    return info.value


HEADER = (
    "schema: kaden.policy-pack/1\nid: US-FL\nkind: jurisdiction\n"
    "jurisdiction: US-FL\nversion: '2'\n"
)


def test_malformed_yaml_is_refused_naming_the_file() -> None:
    error = _error("schema: [unclosed", "us-fl.yaml")
    assert error.pack == "us-fl.yaml" and "not valid YAML/JSON" in str(error)


def test_unknown_field_is_refused_with_its_path() -> None:
    error = _error(HEADER + "calling_hour: {}\n")
    assert error.problems == ["calling_hour: Extra inputs are not permitted"]


def test_inverted_window_is_refused_with_its_path() -> None:
    error = _error(
        HEADER + "calling_hours:\n  windows:\n    - {days: [mon], start: '20:00', end: '08:00'}\n"
    )
    assert error.problems[0].startswith(
        "calling_hours.windows.0: Value error, start 20:00 must be before end 08:00"
    )


def test_bad_weekday_cap_and_period_are_each_reported() -> None:
    error = _error(
        HEADER
        + "day_bans: {weekdays: [funday]}\n"
        + "attempt_caps:\n"
        + "  - {id: x, max_attempts: 0, window: {hours: 1, days: 1}, scope: [person]}\n"
    )
    fields = {p.split(":")[0] for p in error.problems}
    assert {"day_bans.weekdays.0", "attempt_caps.0.max_attempts", "attempt_caps.0.window"} <= fields


def test_unknown_holiday_subdivision_is_refused() -> None:
    error = _error(HEADER + "day_bans: {public_holidays: [{country: US, subdivision: ZZ}]}\n")
    assert "US has no holiday subdivision 'ZZ'" in str(error)


@pytest.mark.parametrize(
    ("code", "detail"),
    [("US-ZZ", "not a subdivision of US"), ("XX", "'XX' is not an ISO 3166 country")],
)
def test_unknown_jurisdiction_code_in_a_pack_is_refused(code: str, detail: str) -> None:
    text = (
        f"schema: kaden.policy-pack/1\nid: {code}\nkind: jurisdiction\n"
        f"jurisdiction: {code}\nversion: '1'\n"
    )
    error = _error(text)
    assert f"unknown jurisdiction code '{code}'" in str(error) and detail in str(error)


def test_unknown_jurisdiction_code_in_a_merge_is_refused() -> None:
    with pytest.raises(UnknownJurisdictionError, match="'QQ' is not an ISO 3166 country"):
        bundled().effective_policy(["US", "QQ"])


def test_refused_pack_leaves_the_previous_version_in_force() -> None:
    catalog = PolicyCatalog.bundled()
    before = catalog.effective_policy(["US", "US-FL"]).version
    with pytest.raises(PolicyPackError):
        catalog.load(HEADER + "calling_hours: {windows: []}\n", "us-fl.yaml")
    assert catalog.pack("US-FL").version == "2025.1"
    assert catalog.effective_policy(["US", "US-FL"]).version == before


def test_new_pack_version_replaces_the_old_and_changes_the_policy_version() -> None:
    catalog = PolicyCatalog.bundled()
    before = catalog.effective_policy(["US", "US-FL"]).version
    text = (
        (PACKS / "us-fl.yaml")
        .read_text()
        .replace('"20:00"', '"19:00"')
        .replace('"2025.1"', '"2025.2"')
    )
    catalog.load(text, "us-fl.yaml")
    after = catalog.effective_policy(["US", "US-FL"])
    assert after.version != before and catalog.pack("US-FL").version == "2025.2"
    assert after.hours is not None and after.hours["mon"][0].end.hour == 19


def test_policy_version_is_a_stable_content_hash() -> None:
    a = PolicyCatalog.bundled().effective_policy(["US-FL", "US"])
    b = PolicyCatalog.bundled().effective_policy(["US", "US-FL"])
    assert a.version == b.version and a.version.startswith("sha256:") and len(a.version) == 71


def overlay(body: str, tightens: str = "[US-FL]", kind: str = "tenant") -> str:
    extra = "campaign_id: c1\n" if kind == "campaign" else ""
    return (
        f"schema: kaden.policy-pack/1\nid: acme-{kind}\nkind: {kind}\ntenant_id: acme\n{extra}"
        f"version: '1'\ntightens: {tightens}\n{body}"
    )


def test_loosening_hours_overlay_is_refused_precisely() -> None:
    text = overlay(
        "calling_hours:\n  windows:\n    - {days: [mon], start: '08:00', end: '21:00'}\n"
    )
    with pytest.raises(LooseningOverlayError) as info:
        PolicyCatalog.bundled().load(text, "acme.yaml")
    assert "calling_hours mon: 08:00–21:00 is not within 08:00–20:00 of US-FL" in str(info.value)


def test_loosening_cap_registry_refusal_and_abandonment_are_refused() -> None:
    cases = {
        "attempt_caps:\n  - {id: us-fl.attempts-24h, max_attempts: 5, window: {hours: 24},"
        " scope: [seller, person, subject]}\n": "attempt_caps[us-fl.attempts-24h]",
        "registries:\n  - {name: US-DNC, max_age: {days: 40}}\n": "registries[US-DNC].max_age",
        "abandonment: {id: a, max_rate: 0.05, period: {days: 30}, connect_within_s: 2,"
        " min_ring_s: 15}\n": "abandonment.max_rate",
    }
    for body, field in cases.items():
        with pytest.raises(
            LooseningOverlayError, match=field.replace("[", r"\[").replace("]", r"\]")
        ):
            PolicyCatalog.bundled().load(overlay(body), "acme.yaml")
    with pytest.raises(LooseningOverlayError, match=r"refusal_bans\[fr.after-refusal\]"):
        PolicyCatalog.bundled().load(
            overlay(
                "refusal_bans:\n"
                "  - {id: fr.after-refusal, scope: [seller, person], duration: {days: 30}}\n",
                "[FR]",
            ),
            "acme.yaml",
        )


def test_overlay_of_a_jurisdiction_without_pack_is_refused() -> None:
    with pytest.raises(PolicyPackError, match="tightens 'DE' but no pack for it is loaded"):
        PolicyCatalog.bundled().load(overlay("caller_id_required: true\n", "[DE]"), "acme.yaml")


def test_tightening_tenant_overlay_applies_only_to_its_tenant() -> None:
    catalog = PolicyCatalog.bundled()
    catalog.load(
        overlay(
            "calling_hours:\n  windows:\n"
            "    - {days: [mon, tue, wed, thu, fri, sat, sun], start: '10:00', end: '19:00'}\n",
            "[JP]",
        ),
        "acme.yaml",
    )
    now = utc("2025-01-15T00:30:00Z")  # 09:30 JST
    mine = screen(request("+81312345678"), catalog, facts(now), now)
    theirs = screen(request("+81312345678", tenant_id="globex"), catalog, facts(now), now)
    assert (mine.outcome, theirs.outcome) == ("blocked", "cleared")
    assert mine.policy_version != theirs.policy_version
    assert {p["id"] for p in mine.packs} == {"JP", "acme-tenant"}


def test_campaign_overlay_adds_a_cap_for_its_campaign_only() -> None:
    catalog = PolicyCatalog.bundled()
    catalog.load(
        overlay(
            "attempt_caps:\n"
            "  - {id: acme.one-a-day, max_attempts: 1, window: {hours: 24}, scope: [person]}\n",
            "[US]",
            kind="campaign",
        ),
        "acme-c1.yaml",
    )
    assert [c.id for c in catalog.effective_policy(["US"], "acme", "c1").attempt_caps] == [
        "acme.one-a-day"
    ]
    assert catalog.effective_policy(["US"], "acme", "c2").attempt_caps == []


def test_merge_intersects_hours_and_accumulates_bans() -> None:
    policy = bundled().effective_policy(["US", "US-TX", "US-MS"])
    assert policy.hours is not None
    assert [w.label() for w in policy.hours["mon"]] == ["09:00–20:00"]
    assert "sun" not in policy.hours or policy.weekday_bans["sun"] == ["US-MS"]


def test_uncovered_country_blocks_fail_closed() -> None:
    decision = decide("+4930123456", "2025-01-15T10:00:00Z")
    assert {r.rule_id for r in decision.blocking} == {"coverage.uncovered"}
    assert decision.earliest_callable_at is None
