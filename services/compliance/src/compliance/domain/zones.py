"""Candidate time zones of a called party, each with where it came from.

Sources, united (rule 2 of the rules document): the number's libphonenumber prefix data
(finest prefix available; a NANP number's state comes from its area code), the address
(postal code through a bundled dataset, else state/province, else country per IANA
``zone.tab``) and an explicit zone on the lead.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import PhoneNumberType, timezone
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX
from pydantic import BaseModel, ConfigDict

from common.pii import mask_phone
from compliance.domain.errors import (
    InvalidPhoneNumberError,
    UnknownJurisdictionError,
    UnknownTimeZoneError,
)
from compliance.domain.pack_schema import holiday_subdivisions

ZoneSource = Literal[
    "phone_prefix", "phone_country", "postal_code", "region", "country", "explicit"
]
NumberKind = Literal["geographic", "mobile", "non_geographic"]

_UNKNOWN_ZONE = "Etc/Unknown"
# Types that say nothing about where the called party is (toll-free, premium, VoIP, ...).
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
_GEO_TYPES = {PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CandidateZone(_Frozen):
    """One IANA zone the called party may be in, and its provenance."""

    zone: str
    source: ZoneSource
    detail: str


class Address(_Frozen):
    """The lead's postal address as far as compliance cares (ISO codes)."""

    country: str | None = None
    region: str | None = None
    postal_code: str | None = None


class NumberFacts(_Frozen):
    """What libphonenumber says about a number (no digits kept beyond the mask)."""

    masked: str
    region: str | None
    kind: NumberKind
    number_type: str
    subdivisions: list[str]


class Location(_Frozen):
    """Where the called party may be: number facts, address and candidate zones."""

    number: NumberFacts
    address: Address
    zones: list[CandidateZone]

    @property
    def zone_names(self) -> list[str]:
        """Distinct candidate zone names, sorted."""
        return sorted({z.zone for z in self.zones})


def parse_number(e164: str) -> phonenumbers.PhoneNumber:
    """Parse and validate an E.164 string (``+`` and 8–15 digits); raise a masked error."""
    masked = mask_phone(e164)
    if not (e164.startswith("+") and e164[1:].isdigit() and 8 <= len(e164) - 1 <= 15):
        raise InvalidPhoneNumberError(masked, "not in E.164 form (+ then 8 to 15 digits)")
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumberError(masked, f"unparseable ({exc.error_type})") from None
    if not phonenumbers.is_valid_number(number):
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
        raise InvalidPhoneNumberError(
            masked, f"not a valid number for country code region {region}"
        )
    return number


def locate(
    e164: str,
    address: Address,
    explicit_zone: str | None,
    lead_zones: Sequence[CandidateZone] = (),
) -> Location:
    """Resolve the number, address and explicit zone into candidate zones with provenance.

    ``lead_zones`` are zones the lead record already carries (resolved upstream, e.g. by
    the importer from an address this service does not see); they are united with the
    others. Raises :class:`InvalidPhoneNumberError`, :class:`UnknownJurisdictionError` for
    an address region that is not a subdivision of its country, or
    :class:`UnknownTimeZoneError` for an explicit or lead zone outside the IANA database.
    """
    number = parse_number(e164)
    facts, zones = _number_zones(number, mask_phone(e164))
    zones += _address_zones(address)
    if explicit_zone is not None:
        if explicit_zone not in _iana_zones():
            raise UnknownTimeZoneError(explicit_zone)
        zones.append(CandidateZone(zone=explicit_zone, source="explicit", detail="lead"))
    for zone in lead_zones:
        if zone.zone not in _iana_zones():
            raise UnknownTimeZoneError(zone.zone)
        zones.append(zone)
    return Location(number=facts, address=address, zones=zones)


def _number_zones(
    number: phonenumbers.PhoneNumber, masked: str
) -> tuple[NumberFacts, list[CandidateZone]]:
    region = phonenumbers.region_code_for_number(number)
    ntype = phonenumbers.number_type(number)
    kind: NumberKind = (
        "geographic"
        if ntype in _GEO_TYPES
        else "mobile"
        if ntype in _MOBILE_TYPES
        else "non_geographic"
    )
    subdivisions = _subdivisions(number, region) if kind == "geographic" else []
    facts = NumberFacts(
        masked=masked,
        region=region,
        kind=kind,
        number_type=_type_name(ntype),
        subdivisions=subdivisions,
    )
    if kind == "non_geographic":
        return facts, []
    found = [z for z in timezone.time_zones_for_number(number) if z != _UNKNOWN_ZONE]
    if kind == "geographic":
        prefix = _finest_prefix(number)
        return facts, [
            CandidateZone(zone=z, source="phone_prefix", detail=f"prefix +{prefix}") for z in found
        ]
    return facts, [
        CandidateZone(zone=z, source="phone_country", detail=f"country {region}") for z in found
    ]


def _finest_prefix(number: phonenumbers.PhoneNumber) -> str:
    digits = f"{number.country_code}{phonenumbers.national_significant_number(number)}"
    for length in range(min(len(digits), TIMEZONE_LONGEST_PREFIX), 0, -1):
        if digits[:length] in TIMEZONE_DATA:
            return digits[:length]
    return str(number.country_code)


def _subdivisions(number: phonenumbers.PhoneNumber, region: str | None) -> list[str]:
    """State/province codes of a NANP number's area code (e.g. FL for +1 305, NS and PE for
    +1 902), from the table generated out of libphonenumber's geocoder data."""
    if number.country_code != 1 or region not in _regions()["names"]:
        return []
    area_code = phonenumbers.national_significant_number(number)[:3]
    return list(_regions()["nanp_area_codes"].get(area_code, []))


def _address_zones(address: Address) -> list[CandidateZone]:
    if address.country is None:
        return []
    country = address.country.upper()
    if country not in country_zones():
        raise UnknownJurisdictionError(country, "not an ISO 3166 country with IANA zones")
    postal = (address.postal_code or "").strip().upper()
    if country == "US" and postal[:5] in _us_zip_zones():
        zone = _us_zip_zones()[postal[:5]]
        return [
            CandidateZone(
                zone=zone, source="postal_code", detail=f"ZIP {postal[:5]} ({_zip_source()})"
            )
        ]
    regions = list(address_regions(address))
    if not regions and country == "CA" and postal[:1] in _regions()["ca_postal_first_letter"]:
        regions = _regions()["ca_postal_first_letter"][postal[:1]]
    region_zones = _regions()["zones"].get(country, {})
    out = [
        CandidateZone(zone=z, source="region", detail=f"{country}-{r}")
        for r in regions
        for z in region_zones.get(r, [])
    ]
    return out or [
        CandidateZone(zone=z, source="country", detail=country) for z in country_zones()[country]
    ]


def address_regions(address: Address) -> tuple[str, ...]:
    """The address's subdivision code(s), validated; names like 'Florida' are accepted."""
    if address.region is None or address.country is None:
        return ()
    country, region = address.country.upper(), address.region.strip()
    names: dict[str, str] = _regions()["names"].get(country, {})
    known = set(names.values()) | set(holiday_subdivisions(country) or ())
    code = names.get(region, region.upper())
    if known and code not in known:
        raise UnknownJurisdictionError(f"{country}-{region}", f"not a subdivision of {country}")
    return (code,)


def _type_name(ntype: int) -> str:
    for name, value in vars(PhoneNumberType).items():
        if value == ntype and name.isupper():
            return name.lower()
    return "unknown"


@cache
def _regions() -> dict[str, Any]:
    text = resources.files("compliance.data").joinpath("regions.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _us_zip_zones() -> dict[str, str]:
    raw = resources.files("compliance.data").joinpath("us_zip_zones.csv.gz").read_bytes()
    lines = [ln for ln in io.StringIO(gzip.decompress(raw).decode()) if not ln.startswith("#")]
    return {row["zip"]: row["zone"] for row in csv.DictReader(lines)}


@cache
def _zip_source() -> str:
    raw = resources.files("compliance.data").joinpath("us_zip_zones.csv.gz").read_bytes()
    return gzip.decompress(raw).decode().splitlines()[0].removeprefix("# source: ")


@cache
def country_zones() -> dict[str, list[str]]:
    """Country code → zones, from the IANA ``zone.tab`` shipped in ``tzdata``."""
    text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text("utf-8")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            cc, _coords, zone, *_ = line.split("\t")
            out.setdefault(cc, []).append(zone)
    return out


@cache
def _iana_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone_info(name: str) -> ZoneInfo:
    """``ZoneInfo`` for a candidate zone name (cached by ``zoneinfo`` itself)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZoneError(name) from None
