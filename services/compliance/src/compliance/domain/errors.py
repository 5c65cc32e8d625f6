"""Typed errors of the compliance domain.

Every message is precise (which pack, field, line or code is wrong) and never carries a
full phone number: numbers are masked with :func:`common.pii.mask_phone`.
"""

from __future__ import annotations


class ComplianceError(Exception):
    """Base class of every error raised by the compliance domain."""


class PolicyPackError(ComplianceError):
    """A policy pack is malformed or loosens its base; the pack in force is kept.

    ``pack`` names the file or pack id, ``problems`` lists ``field: message`` lines.
    """

    def __init__(self, pack: str, problems: list[str]) -> None:
        self.pack = pack
        self.problems = problems
        super().__init__(f"policy pack {pack!r} refused: " + "; ".join(problems))


class LooseningOverlayError(PolicyPackError):
    """A tenant or campaign overlay tries to relax a rule of a jurisdiction it tightens."""


class UnknownJurisdictionError(ComplianceError):
    """A jurisdiction code is not an ISO 3166 country or a known subdivision of one."""

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        super().__init__(f"unknown jurisdiction code {code!r}: {detail}")


class InvalidPhoneNumberError(ComplianceError):
    """A phone number is not a valid E.164 number (the message shows it masked)."""

    def __init__(self, masked: str, detail: str) -> None:
        self.masked = masked
        super().__init__(f"invalid phone number {masked}: {detail}")


class MalformedRegistryFileError(ComplianceError):
    """A national registry file has a bad line; nothing from it is loaded."""

    def __init__(self, registry: str, line_no: int, detail: str) -> None:
        self.registry = registry
        self.line_no = line_no
        super().__init__(f"registry file for {registry!r}, line {line_no}: {detail}")


class UnknownTimeZoneError(ComplianceError):
    """An explicit zone is not an IANA time zone name."""

    def __init__(self, zone: str) -> None:
        self.zone = zone
        super().__init__(f"unknown IANA time zone {zone!r}")
