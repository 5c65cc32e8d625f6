"""Builders shared by the compliance unit tests (importable: conftest puts this folder on
sys.path)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from compliance.domain.decision import (
    Decision,
    RegistryCopy,
    ScreeningFacts,
    ScreeningRequest,
)
from compliance.domain.policy import PolicyCatalog
from compliance.domain.rules import screen
from compliance.domain.zones import Address

TENANT = "acme"
CALLER_ID = "+12125550100"


def utc(text: str) -> datetime:
    """Parse an ISO instant (with offset or Z) into UTC."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def request(number: str, **kw: Any) -> ScreeningRequest:
    """A screening request of tenant ``acme`` with a caller ID."""
    address = kw.pop("address", None)
    if isinstance(address, dict):
        address = Address(**address)
    return ScreeningRequest(
        tenant_id=kw.pop("tenant_id", TENANT),
        campaign_id=kw.pop("campaign_id", "c1"),
        lead_id=kw.pop("lead_id", "lead-1"),
        number=number,
        address=address or Address(),
        caller_id=kw.pop("caller_id", CALLER_ID),
        **kw,
    )


def fresh_copies(now: datetime) -> list[RegistryCopy]:
    """A one-day-old copy of every national registry the bundled packs require."""
    return [
        RegistryCopy(name=n, version="v1", downloaded_at=now - timedelta(days=1))
        for n in ("US-DNC", "CA-DNCL", "GB-TPS", "FR-BLOCTEL")
    ]


def facts(now: datetime, **kw: Any) -> ScreeningFacts:
    """Facts with fresh registry copies plus the given fields."""
    kw.setdefault("registry_copies", fresh_copies(now))
    return ScreeningFacts(**kw)


@cache
def bundled() -> PolicyCatalog:
    """The bundled packs (loaded once per test session)."""
    return PolicyCatalog.bundled()


def decide(number: str, now: str, facts_: ScreeningFacts | None = None, **kw: Any) -> Decision:
    """Screen ``number`` at ISO instant ``now`` with the bundled packs."""
    instant = utc(now)
    return screen(request(number, **kw), bundled(), facts_ or facts(instant), instant)


def rule_ids(decision: Decision) -> set[str]:
    """Ids of the blocking reasons."""
    return {r.rule_id for r in decision.blocking}
