"""Which campaign dials a list, and how many leads each campaign may be given now.

A list may belong to several running campaigns; each lead must be handed to exactly one,
so every list has one *owner*: the running campaign that has been running the longest
(ties by campaign id). When it stops or pauses, the next one takes the list over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RunningCampaign:
    """A campaign in state ``running`` as the leads service knows it."""

    tenant_id: str
    campaign_id: str
    list_ids: tuple[str, ...]
    running_since: datetime


@dataclass(frozen=True)
class Allotment:
    """Leads one campaign may be given in this tick, from the lists it owns."""

    campaign: RunningCampaign
    list_ids: tuple[str, ...]
    quota: int


def list_owners(running: Iterable[RunningCampaign]) -> dict[tuple[str, str], str]:
    """``(tenant, list_id) -> campaign_id`` of the owning campaign."""
    owners: dict[tuple[str, str], str] = {}
    for c in sorted(running, key=lambda c: (c.running_since, c.campaign_id)):
        for list_id in c.list_ids:
            owners.setdefault((c.tenant_id, list_id), c.campaign_id)
    return owners


def allot(running: Sequence[RunningCampaign], in_flight: Mapping[tuple[str, str], int], *,
          cap: int, rotation: int = 0) -> list[Allotment]:
    """How many leads each running campaign may be given now, in serving order.

    A campaign may get ``cap`` minus its leads in flight (due or dialing), from the lists
    it owns. ``rotation`` shifts which campaign is served first, so that a scheduler tick
    whose batch runs out does not always favour the same campaigns.
    """
    owners = list_owners(running)
    ordered = sorted(running, key=lambda c: (c.tenant_id, c.campaign_id))
    if ordered:
        start = rotation % len(ordered)
        ordered = ordered[start:] + ordered[:start]
    allotments: list[Allotment] = []
    for c in ordered:
        owned = tuple(dict.fromkeys(
            lid for lid in c.list_ids if owners[(c.tenant_id, lid)] == c.campaign_id))
        quota = cap - in_flight.get((c.tenant_id, c.campaign_id), 0)
        if owned and quota > 0:
            allotments.append(Allotment(c, owned, quota))
    return allotments
