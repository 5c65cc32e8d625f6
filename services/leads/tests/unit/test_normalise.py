"""Normalising a row: E.164, country, candidate zones and precise rejection reasons."""

from __future__ import annotations

import pytest

from common.events.catalog import CandidateZone
from leads.domain.normalise import RowRejected, normalise_row


def test_a_national_number_is_normalised_with_the_default_country() -> None:
    lead = normalise_row({"phone": " (312) 555-0142 ", "first_name": "Dana", "plan": "gold",
                          "last_name": ""}, "US")
    assert lead.phone_e164 == "+13125550142"
    assert lead.country == "US"
    assert lead.candidate_zones == (CandidateZone(zone="America/Chicago", source="number_prefix"),)
    assert lead.attributes == {"first_name": "Dana", "plan": "gold"}


def test_the_row_country_wins_over_the_default_and_the_number_decides_the_country() -> None:
    lead = normalise_row({"phone": "020 7946 0018", "country": "gb"}, "US")
    assert (lead.phone_e164, lead.country) == ("+442079460018", "GB")
    lead = normalise_row({"phone": "+44 20 7946 0018"}, None)
    assert (lead.phone_e164, lead.country) == ("+442079460018", "GB")


def test_an_explicit_zone_comes_first_and_is_not_repeated() -> None:
    lead = normalise_row({"phone": "3125550142", "timezone": "America/Chicago"}, "US")
    assert lead.candidate_zones == (CandidateZone(zone="America/Chicago", source="explicit"),)
    lead = normalise_row({"phone": "3125550142", "timezone": "America/New_York"}, "US")
    assert [(z.zone, z.source) for z in lead.candidate_zones] == [
        ("America/New_York", "explicit"), ("America/Chicago", "number_prefix")]


def test_a_number_without_a_known_zone_has_no_unknown_zone() -> None:
    lead = normalise_row({"phone": "+1 800 555 0100"}, None)
    assert len(lead.candidate_zones) > 1  # toll-free: the whole NANP
    assert all(z.zone != "Etc/Unknown" for z in lead.candidate_zones)


@pytest.mark.parametrize(("fields", "default", "reason"), [
    ({"first_name": "A"}, "US", "missing phone"),
    ({"phone": "   "}, "US", "missing phone"),
    ({"phone": "+1 312 555 01"}, "US",
     "phone '+1******01' is not a valid number for region US"),
    ({"phone": "3125550142", "country": "XX"}, "US", "unknown country 'XX'"),
    ({"phone": "3125550142"}, None,
     "phone '********42' has no +country code and the row has no country "
     "(set 'country' or 'default_country')"),
    ({"phone": "hello"}, "US", "phone has no digits"),
    ({"phone": "1"}, "US", "phone '*' is not a valid number: it is not a phone number"),
    ({"phone": "12"}, "US", "phone '**' is not a valid number for region US"),
    ({"phone": "+999 1234 5678"}, None,
     "phone '+9********78' is not a valid number: its country calling code is unknown"),
    ({"phone": "3125550142", "timezone": "Mars/Base"}, "US", "unknown time zone 'Mars/Base'"),
    ({"phone": "3125550142", "timezone": "../../etc/passwd"}, "US",
     "unknown time zone '../../etc/passwd'"),
    ({"phone": "1" * 41}, "US", "phone '" + "*" * 39 + "11' is longer than 40 characters"),
    ({"phone": "3125550142", "note": "x" * 1001}, "US",
     "field 'note' is longer than 1000 characters"),
])
def test_a_bad_row_is_rejected_with_a_precise_reason(fields: dict[str, str], default: str | None,
                                                     reason: str) -> None:
    with pytest.raises(RowRejected) as exc:
        normalise_row(fields, default)
    assert exc.value.reason == reason


def test_reasons_never_contain_the_number() -> None:
    with pytest.raises(RowRejected) as exc:
        normalise_row({"phone": "+1 312 555 0199 99"}, "US")
    assert "312" not in exc.value.reason and "555" not in exc.value.reason


def test_a_row_with_too_many_attributes_is_rejected() -> None:
    fields = {"phone": "3125550142", **{f"a{i}": "x" for i in range(101)}}
    with pytest.raises(RowRejected) as exc:
        normalise_row(fields, "US")
    assert exc.value.reason == "row has 101 attribute fields; at most 100 are allowed"
