"""Policy packs as versioned data: loading, validation and the per-lead merge.

A :class:`PolicyCatalog` holds the packs in force. Loading a pack validates it fully
(schema, jurisdiction codes, and for overlays that they only tighten) before it replaces
the previous version: a refused pack leaves the catalog exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from compliance.domain.effective import EffectivePolicy, merge, pack_digest
from compliance.domain.errors import (
    LooseningOverlayError,
    PolicyPackError,
    UnknownJurisdictionError,
)
from compliance.domain.pack_schema import PolicyPack
from compliance.domain.tightening import loosening_problems
from compliance.domain.zones import Address, Location, address_regions, country_zones

_PACK_SUFFIXES = (".yaml", ".yml", ".json")


def parse_pack(text: str, origin: str) -> PolicyPack:
    """Parse and validate one pack from YAML or JSON text; ``origin`` names it in errors."""
    try:
        raw = json.loads(text) if origin.endswith(".json") else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise PolicyPackError(origin, [f"not valid YAML/JSON: {exc}".replace("\n", " ")]) from None
    if not isinstance(raw, dict):
        raise PolicyPackError(origin, ["top level must be a mapping"])
    try:
        pack = PolicyPack.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '<pack>'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise PolicyPackError(origin, problems) from None
    codes = [pack.jurisdiction] if pack.jurisdiction else []
    for code in [*codes, *pack.tightens]:
        try:
            validate_jurisdiction(code)
        except UnknownJurisdictionError as exc:
            raise PolicyPackError(origin, [str(exc)]) from None
    return pack


def validate_jurisdiction(code: str) -> None:
    """Raise :class:`UnknownJurisdictionError` unless ``code`` is ``CC`` or ``CC-SUB``
    with an ISO 3166 country and a subdivision known to the bundled region data or the
    ``holidays`` package."""
    country, _, sub = code.partition("-")
    if country not in country_zones():
        raise UnknownJurisdictionError(code, f"{country!r} is not an ISO 3166 country")
    if sub:
        address_regions(Address(country=country, region=sub))


class PolicyCatalog:
    """The packs in force, keyed by pack id; overlays are found by tenant and campaign."""

    def __init__(self) -> None:
        self._packs: dict[str, tuple[PolicyPack, str]] = {}

    @classmethod
    def bundled(cls) -> PolicyCatalog:
        """A catalog of the packs shipped in ``compliance/packs``."""
        catalog = cls()
        folder = resources.files("compliance.packs")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(_PACK_SUFFIXES):
                catalog.load(entry.read_text("utf-8"), entry.name)
        return catalog

    def load_file(self, path: Path) -> PolicyPack:
        """Load (or replace) a pack from a file; see :meth:`load`."""
        return self.load(path.read_text("utf-8"), path.name)

    def load(self, text: str, origin: str) -> PolicyPack:
        """Validate a pack and put it in force, replacing the pack with the same id.

        Raises :class:`PolicyPackError` (malformed, unknown jurisdiction, or an overlay of
        a jurisdiction without a pack) or :class:`LooseningOverlayError`; on error the
        catalog is unchanged.
        """
        pack = parse_pack(text, origin)
        if pack.is_overlay:
            missing = [c for c in pack.tightens if self._national(c.split("-")[0]) is None]
            if missing:
                raise PolicyPackError(
                    origin, [f"tightens {c!r} but no pack for it is loaded" for c in missing]
                )
            problems = [
                p
                for code in pack.tightens
                for p in loosening_problems(
                    pack, merge(self._jurisdiction_packs([code]), [code], []), code
                )
            ]
            if problems:
                raise LooseningOverlayError(origin, problems)
        self._packs[pack.id] = (pack, pack_digest(pack))
        return pack

    def pack(self, pack_id: str) -> PolicyPack:
        """The pack in force with this id (KeyError if none)."""
        return self._packs[pack_id][0]

    @property
    def pack_ids(self) -> list[str]:
        """Ids of every pack in force, sorted."""
        return sorted(self._packs)

    def jurisdictions_for(self, location: Location) -> tuple[list[str], list[str]]:
        """``(covered, uncovered)`` jurisdiction codes that apply to a located lead.

        National: the number's country and the address country (mapped through the packs'
        ``countries``). Subdivisions: the address region, plus each area-code state of the
        number when the address has no region or that state's pack presumes residence.
        """
        countries = {location.number.region, location.address.country}
        covered: set[str] = set()
        uncovered: set[str] = set()
        for country in filter(None, countries):
            national = self._national(country.upper())
            (covered if national else uncovered).add(national or country.upper())
        address_country = self._national((location.address.country or "").upper())
        for region in address_regions(location.address) if address_country else ():
            covered.add(f"{address_country}-{region}")
        number_country = self._national(location.number.region or "")
        has_address_region = location.address.region is not None
        for sub in location.number.subdivisions if number_country else ():
            code = f"{number_country}-{sub}"
            pack = self._jurisdiction_pack(code)
            if not has_address_region or (pack is not None and pack.area_code_presumption):
                covered.add(code)
        return sorted(covered), sorted(uncovered)

    def effective_policy(
        self,
        jurisdictions: Iterable[str],
        tenant_id: str | None = None,
        campaign_id: str | None = None,
        uncovered: Iterable[str] = (),
    ) -> EffectivePolicy:
        """Merge the packs of ``jurisdictions`` with the tenant's and campaign's overlays.

        Raises :class:`UnknownJurisdictionError` for a malformed or unknown code.
        """
        codes = sorted(set(jurisdictions))
        for code in [*codes, *uncovered]:
            validate_jurisdiction(code)
        packs = self._jurisdiction_packs(codes)
        for pack, digest in sorted(self._packs.values(), key=lambda p: p[0].id):
            if (
                pack.is_overlay
                and pack.tenant_id == tenant_id
                and (pack.kind == "tenant" or pack.campaign_id == campaign_id)
            ):
                packs.append((pack, digest))
        return merge(packs, codes, list(uncovered))

    def _jurisdiction_packs(self, codes: list[str]) -> list[tuple[PolicyPack, str]]:
        """Packs of the codes and of their national parents, nationals first, deduplicated."""
        wanted = sorted({c.split("-")[0] for c in codes} | set(codes), key=lambda c: ("-" in c, c))
        found = [self._jurisdiction_pack(c) for c in wanted]
        return [self._packs[p.id] for p in found if p is not None]

    def _jurisdiction_pack(self, code: str) -> PolicyPack | None:
        for pack, _ in self._packs.values():
            if pack.jurisdiction == code:
                return pack
        return None

    def _national(self, country: str) -> str | None:
        """The national jurisdiction whose pack covers ``country`` (e.g. PR → US)."""
        for pack, _ in self._packs.values():
            if (
                pack.jurisdiction
                and "-" not in pack.jurisdiction
                and (country in pack.countries or country == pack.jurisdiction)
            ):
                return pack.jurisdiction
        return None
