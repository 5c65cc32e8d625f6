"""Normalising one imported row into a lead: E.164 number, country, candidate time zones.

The number is parsed with ``phonenumbers`` using the row's ``country`` (or the import's
default country) for national formats, and must be a valid number. Candidate zones are
where the called party may be: an explicit ``timezone`` column (source ``explicit``,
validated against the IANA database) and the zones of the number's prefix (source
``number_prefix``). Every rejection reason names the field and masks the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers import timezone as number_zones

from common.events.catalog import CandidateZone
from common.pii import mask_phone

MAX_PHONE_CHARS = 40
MAX_ATTRIBUTE_CHARS = 1000
MAX_ATTRIBUTES = 100
# Columns that shape the lead itself; every other field is an attribute.
_LEAD_FIELDS = frozenset({"phone", "country", "timezone"})
_UNKNOWN_ZONE = "Etc/Unknown"
_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "its country calling code is unknown",
    NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}


class RowRejected(ValueError):
    """The row cannot become a lead; ``reason`` says why (numbers masked)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NormalisedLead:
    """A row that passed: what the lead is made of."""

    phone_e164: str
    country: str
    candidate_zones: tuple[CandidateZone, ...]
    attributes: dict[str, str] = field(default_factory=dict)


def is_known_country(code: str) -> bool:
    """``code`` is an ISO 3166-1 alpha-2 region ``phonenumbers`` can parse numbers for."""
    return code in phonenumbers.SUPPORTED_REGIONS


@lru_cache(maxsize=1024)
def is_known_zone(name: str) -> bool:
    """``name`` is a zone of the IANA time zone database."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def normalise_row(fields: Mapping[str, str], default_country: str | None) -> NormalisedLead:
    """The lead a row describes; raises :class:`RowRejected` with the precise reason.

    ``default_country`` (ISO alpha-2, already validated) applies when the row has no
    ``country``; blank fields count as absent.
    """
    values = {k: v.strip() for k, v in fields.items() if v is not None and v.strip()}
    phone = values.get("phone")
    if phone is None:
        raise RowRejected("missing phone")
    if not any(ch.isdigit() for ch in phone):
        raise RowRejected("phone has no digits")
    masked = mask_phone(phone)
    if len(phone) > MAX_PHONE_CHARS:
        raise RowRejected(f"phone '{masked}' is longer than {MAX_PHONE_CHARS} characters")
    region = values.get("country", default_country)
    if region is not None:
        region = region.upper()
        if not is_known_country(region):
            raise RowRejected(f"unknown country '{values.get('country', region)}'")
    if region is None and not phone.startswith("+"):
        raise RowRejected(f"phone '{masked}' has no +country code and the row has no country "
                          "(set 'country' or 'default_country')")
    try:
        number = phonenumbers.parse(phone, region)
    except NumberParseException as exc:
        why = _PARSE_ERRORS.get(exc.error_type, "it cannot be parsed")
        raise RowRejected(f"phone '{masked}' is not a valid number: {why}") from None
    country = phonenumbers.region_code_for_number(number)
    if not phonenumbers.is_valid_number(number):
        where = region or country or f"+{number.country_code}"
        raise RowRejected(f"phone '{masked}' is not a valid number for region {where}")
    if not country or not is_known_country(country):
        raise RowRejected(f"phone '{masked}' is a non-geographic number "
                          f"(+{number.country_code}): no country to screen it for")
    zones: list[CandidateZone] = []
    explicit = values.get("timezone")
    if explicit is not None:
        if not is_known_zone(explicit):
            raise RowRejected(f"unknown time zone '{explicit}'")
        zones.append(CandidateZone(zone=explicit, source="explicit"))
    for zone in number_zones.time_zones_for_number(number):
        if zone != _UNKNOWN_ZONE and zone != explicit:
            zones.append(CandidateZone(zone=zone, source="number_prefix"))
    attributes = {k: v for k, v in values.items() if k not in _LEAD_FIELDS}
    if len(attributes) > MAX_ATTRIBUTES:
        raise RowRejected(f"row has {len(attributes)} attribute fields; at most "
                          f"{MAX_ATTRIBUTES} are allowed")
    for name, value in attributes.items():
        if len(value) > MAX_ATTRIBUTE_CHARS:
            raise RowRejected(f"field '{name}' is longer than {MAX_ATTRIBUTE_CHARS} characters")
    return NormalisedLead(
        phone_e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        country=country,
        candidate_zones=tuple(zones),
        attributes=attributes,
    )
