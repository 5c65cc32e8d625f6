"""One test per row of the Canada, UK, Japan and France tables of the rules document."""

from __future__ import annotations

from datetime import timedelta

from compliance_kit import bundled, decide, facts, request, utc

from compliance.domain.decision import Attempt, DncHit, Refusal, RegistryCopy
from compliance.domain.rules import screen

TORONTO = "+14165550123"  # America/Toronto, EST in January
LONDON = "+442079460000"  # Europe/London, GMT in January
TOKYO = "+81312345678"  # Asia/Tokyo, UTC+9
PARIS = "+33142685300"  # Europe/Paris, CET in January, CEST in May


# --- Canada -------------------------------------------------------------------------


def test_canada_weekdays_09_to_2130() -> None:
    assert decide(TORONTO, "2025-01-15T13:59:59Z").outcome == "blocked"
    assert decide(TORONTO, "2025-01-15T14:00:00Z").outcome == "cleared"
    assert decide(TORONTO, "2025-01-16T02:29:59Z").outcome == "cleared"  # 21:29:59
    assert decide(TORONTO, "2025-01-16T02:30:00Z").outcome == "blocked"  # 21:30


def test_canada_weekends_10_to_18() -> None:
    assert decide(TORONTO, "2025-01-18T14:59:59Z").outcome == "blocked"  # Sat 09:59:59
    assert decide(TORONTO, "2025-01-18T15:00:00Z").outcome == "cleared"
    late = decide(TORONTO, "2025-01-18T23:00:00Z")  # Sat 18:00
    assert late.outcome == "blocked"
    assert late.earliest_callable_at == utc("2025-01-19T15:00:00Z")  # Sun 10:00


def test_canada_dncl_copy_no_older_than_31_days() -> None:
    now = utc("2025-01-15T15:00:00Z")
    old = RegistryCopy(name="CA-DNCL", version="v", downloaded_at=now - timedelta(days=32))
    decision = decide(TORONTO, "2025-01-15T15:00:00Z", facts(now, registry_copies=[old]))
    assert {r.rule_id for r in decision.blocking} == {"registry.stale"}


def test_canada_internal_dnc_at_once_kept_3_years() -> None:
    now = utc("2025-01-15T15:00:00Z")
    hit = DncHit(list_name="acme", kind="internal", version="e1", recorded_at=now)
    assert decide(TORONTO, "2025-01-15T15:00:00Z", facts(now, dnc_hits=[hit])).outcome == "blocked"
    internal = bundled().effective_policy(["CA"]).internal_dnc
    assert internal is not None and internal.retention.months == 36


def test_canada_abandonment_5_percent_per_month() -> None:
    (budget,) = bundled().effective_policy(["CA"]).abandonment
    assert (budget.max_rate, budget.period.months, budget.connect_within_s) == (0.05, 1, 2)


# --- United Kingdom -----------------------------------------------------------------


def test_uk_tps_registration_blocks_without_the_28_day_grace() -> None:
    now = utc("2025-01-15T12:00:00Z")
    hit = DncHit(
        list_name="GB-TPS",
        kind="national",
        version="2025-01-14",
        recorded_at=now - timedelta(days=1),
    )
    decision = decide(LONDON, "2025-01-15T12:00:00Z", facts(now, dnc_hits=[hit]))
    assert {r.rule_id for r in decision.blocking} == {"dnc.national"}


def test_uk_direct_opt_out_stops_immediately() -> None:
    now = utc("2025-01-15T12:00:00Z")
    hit = DncHit(list_name="acme", kind="tenant", version="e9", recorded_at=now)
    assert decide(LONDON, "2025-01-15T12:00:00Z", facts(now, dnc_hits=[hit])).outcome == "blocked"


def test_uk_abandonment_3_percent_per_24h_counting_amd_misclassification() -> None:
    (budget,) = bundled().effective_policy(["GB"]).abandonment
    assert (budget.max_rate, budget.period.hours, budget.counts_amd_misclassified) == (
        0.03,
        24,
        True,
    )
    assert (budget.connect_within_s, budget.min_ring_s) == (2, 15)


def _uk_attempt(at: str, outcome: str) -> Attempt:
    return Attempt(at=utc(at), seller="acme", person_key=LONDON, number=LONDON, outcome=outcome)  # type: ignore[arg-type]


def test_uk_no_repeat_within_72h_after_abandoned_call() -> None:
    now = utc("2025-01-16T12:00:00Z")
    tries = [_uk_attempt("2025-01-15T12:00:00Z", "abandoned")]
    blocked = decide(LONDON, "2025-01-16T12:00:00Z", facts(now, attempts=tries))
    assert {r.rule_id for r in blocked.blocking} == {"redial.gb.after-abandoned"}
    assert blocked.earliest_callable_at == utc("2025-01-18T12:00:00Z")
    guaranteed = decide(
        LONDON, "2025-01-16T12:00:00Z", facts(now, attempts=tries), agent_guaranteed=True
    )
    assert guaranteed.outcome == "cleared"


def test_uk_no_automated_repeat_same_day_after_machine() -> None:
    now = utc("2025-01-15T15:00:00Z")
    tries = [_uk_attempt("2025-01-15T10:00:00Z", "machine")]
    blocked = decide(LONDON, "2025-01-15T15:00:00Z", facts(now, attempts=tries))
    assert {r.rule_id for r in blocked.blocking} == {"redial.gb.after-machine"}
    assert blocked.earliest_callable_at == utc("2025-01-16T08:00:00Z")  # next day, 08:00 GMT
    assert decide(LONDON, "2025-01-16T09:00:00Z", facts(now, attempts=tries)).outcome == "cleared"


def test_uk_information_message_and_ring_time_published() -> None:
    (budget,) = bundled().effective_policy(["GB"]).abandonment
    assert budget.connect_within_s == 2 and budget.min_ring_s == 15


# --- Japan --------------------------------------------------------------------------


def test_japan_default_hours_09_to_20() -> None:
    assert decide(TOKYO, "2025-01-14T23:59:59Z").outcome == "blocked"  # 08:59:59 JST
    assert decide(TOKYO, "2025-01-15T00:00:00Z").outcome == "cleared"
    assert decide(TOKYO, "2025-01-15T11:00:00Z").outcome == "blocked"  # 20:00 JST


def test_japan_refusal_is_a_permanent_ban_per_seller_person_product() -> None:
    now = utc("2025-01-15T03:00:00Z")
    refusal = Refusal(
        at=utc("2020-01-01T03:00:00Z"),
        seller="acme",
        person_key="p-1",
        number=TOKYO,
        product="insurance",
    )
    known = facts(now, refusals=[refusal])
    catalog = bundled()
    same = screen(request(TOKYO, person_key="p-1", product="insurance"), catalog, known, now)
    assert {r.rule_id for r in same.blocking} == {"refusal.jp.resolicitation"}
    assert same.earliest_callable_at is None
    other_product = screen(request(TOKYO, person_key="p-1", product="mobile"), catalog, known, now)
    assert other_product.outcome == "cleared"
    other_seller = screen(
        request(TOKYO, person_key="p-1", product="insurance", tenant_id="globex"),
        catalog,
        known,
        now,
    )
    assert other_seller.outcome == "cleared"


def test_japan_has_no_national_registry() -> None:
    assert bundled().effective_policy(["JP"]).registries == []
    now = utc("2025-01-15T03:00:00Z")
    assert (
        decide(TOKYO, "2025-01-15T03:00:00Z", facts(now, registry_copies=[])).outcome == "cleared"
    )


# --- France -------------------------------------------------------------------------


def test_france_monday_to_friday_only() -> None:
    saturday = decide(PARIS, "2025-01-18T10:00:00Z")
    assert saturday.outcome == "blocked"
    assert saturday.earliest_callable_at == utc("2025-01-20T09:00:00Z")  # Monday 10:00 CET


def test_france_never_on_public_holidays() -> None:
    may_day = decide(PARIS, "2025-05-01T10:00:00Z")  # Thursday
    assert may_day.outcome == "blocked"
    assert may_day.earliest_callable_at == utc("2025-05-02T08:00:00Z")  # Friday 10:00 CEST


def test_france_hours_10_to_13_and_14_to_20() -> None:
    assert decide(PARIS, "2025-01-15T08:59:59Z").outcome == "blocked"
    assert decide(PARIS, "2025-01-15T09:00:00Z").outcome == "cleared"
    lunch = decide(PARIS, "2025-01-15T12:00:00Z")  # 13:00
    assert lunch.outcome == "blocked"
    assert lunch.earliest_callable_at == utc("2025-01-15T13:00:00Z")
    assert decide(PARIS, "2025-01-15T18:59:59Z").outcome == "cleared"
    assert decide(PARIS, "2025-01-15T19:00:00Z").outcome == "blocked"


def test_france_at_most_4_calls_per_30_calendar_days() -> None:
    now = utc("2025-01-30T10:00:00Z")
    days = ["2025-01-02", "2025-01-09", "2025-01-16", "2025-01-23"]
    tries = [
        Attempt(at=utc(f"{d}T09:30:00Z"), seller="acme", person_key=PARIS, number=PARIS)
        for d in days
    ]
    blocked = decide(PARIS, "2025-01-30T10:00:00Z", facts(now, attempts=tries))
    assert {r.rule_id for r in blocked.blocking} == {"cap.fr.attempts-30d"}
    # Jan 2 leaves the 30 calendar days at Paris midnight starting Feb 1 (Saturday):
    # the next legal instant is Monday Feb 3, 10:00 CET.
    assert blocked.earliest_callable_at == utc("2025-02-03T09:00:00Z")


def test_france_no_call_for_60_days_after_a_refusal() -> None:
    now = utc("2025-02-10T10:00:00Z")
    refusal = Refusal(at=utc("2025-01-06T10:00:00Z"), seller="acme", person_key=PARIS, number=PARIS)
    blocked = decide(PARIS, "2025-02-10T10:00:00Z", facts(now, refusals=[refusal]))
    assert {r.rule_id for r in blocked.blocking} == {"refusal.fr.after-refusal"}
    assert blocked.earliest_callable_at == utc("2025-03-07T10:00:00Z")  # +60 d, Fri 11:00 CET


def test_france_bloctel_registration_blocks() -> None:
    now = utc("2025-01-15T10:00:00Z")
    hit = DncHit(list_name="FR-BLOCTEL", kind="national", version="2025-01-14")
    assert decide(PARIS, "2025-01-15T10:00:00Z", facts(now, dnc_hits=[hit])).outcome == "blocked"
