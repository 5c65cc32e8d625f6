"""Candidate zones with provenance, and bad phone/zone/region input."""

from __future__ import annotations

import pytest

from compliance.domain.errors import (
    InvalidPhoneNumberError,
    UnknownJurisdictionError,
    UnknownTimeZoneError,
)
from compliance.domain.zones import Address, locate


def sources(
    e164: str, address: Address | None = None, zone: str | None = None
) -> set[tuple[str, str]]:
    return {(z.zone, z.source) for z in locate(e164, address or Address(), zone).zones}


def test_number_zone_comes_from_the_finest_prefix() -> None:
    (pensacola,) = locate("+18504321234", Address(), None).zones
    (tallahassee,) = locate("+18502221234", Address(), None).zones
    assert (pensacola.zone, pensacola.detail) == ("America/Chicago", "prefix +185043")
    assert tallahassee.zone == "America/New_York"


def test_us_zip_code_gives_the_address_zone_with_its_dataset() -> None:
    zones = locate("+12125550123", Address(country="US", postal_code="90210-1234"), None).zones
    zip_zone = next(z for z in zones if z.source == "postal_code")
    assert zip_zone.zone == "America/Los_Angeles"
    assert zip_zone.detail.startswith("ZIP 90210 (zipcodes ")


def test_state_without_zip_falls_back_to_every_zone_of_the_state() -> None:
    got = sources("+12125550123", Address(country="US", region="IN"))
    assert {("America/Indiana/Indianapolis", "region"), ("America/Chicago", "region")} <= got


def test_canadian_postal_code_first_letter_gives_the_province() -> None:
    got = sources("+14165550123", Address(country="CA", postal_code="V6B 1A1"))
    assert ("America/Vancouver", "region") in got and ("America/Toronto", "phone_prefix") in got


def test_country_only_address_uses_the_iana_zone_tab() -> None:
    assert sources("+33142685300", Address(country="FR")) == {
        ("Europe/Paris", "phone_prefix"),
        ("Europe/Paris", "country"),
    }


def test_region_names_are_accepted_and_unknown_regions_refused() -> None:
    assert locate("+12125550123", Address(country="US", region="Florida"), None)
    with pytest.raises(UnknownJurisdictionError, match="'US-Narnia': not a subdivision of US"):
        locate("+12125550123", Address(country="US", region="Narnia"), None)


def test_explicit_zone_is_added_and_validated() -> None:
    assert ("Asia/Kolkata", "explicit") in sources("+12125550123", zone="Asia/Kolkata")
    with pytest.raises(UnknownTimeZoneError, match="'Mars/Olympus'"):
        locate("+12125550123", Address(), "Mars/Olympus")


def test_toll_free_is_non_geographic_without_zones() -> None:
    location = locate("+18005551234", Address(country="US", region="NY"), None)
    assert location.number.kind == "non_geographic" and location.number.number_type == "toll_free"
    assert {z.source for z in location.zones} == {"region"}


def test_mobile_numbers_use_country_level_zones() -> None:
    location = locate("+33612345678", Address(), None)
    assert location.number.kind == "mobile"
    assert [(z.zone, z.source) for z in location.zones] == [("Europe/Paris", "phone_country")]


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("12125550123", "not in E.164 form"),
        ("+1212555012a", "not in E.164 form"),
        ("+12125", "not in E.164 form"),
        ("+11115550123", "not a valid number"),
    ],
)
def test_invalid_numbers_get_a_precise_masked_error(number: str, problem: str) -> None:
    with pytest.raises(InvalidPhoneNumberError) as info:
        locate(number, Address(), None)
    assert problem in str(info.value)
    assert number.lstrip("+")[1:-2] not in str(info.value)  # digits are masked
