"""List ownership among running campaigns and the per-campaign in-flight cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leads.domain.ids import new_id
from leads.domain.scheduling import RunningCampaign, allot, list_owners

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def campaign(cid: str, lists: tuple[str, ...], minutes: int, tenant: str = "acme") -> RunningCampaign:
    return RunningCampaign(tenant, cid, lists, T0 + timedelta(minutes=minutes))


def test_a_shared_list_belongs_to_the_longest_running_campaign() -> None:
    old, young = campaign("b-old", ("l1", "l2"), 0), campaign("a-young", ("l2", "l3"), 5)
    assert list_owners([young, old]) == {("acme", "l1"): "b-old", ("acme", "l2"): "b-old",
                                         ("acme", "l3"): "a-young"}
    tie = campaign("a-tie", ("l1",), 0)
    assert list_owners([old, tie])[("acme", "l1")] == "a-tie"


def test_the_same_list_id_of_two_tenants_has_two_owners() -> None:
    owners = list_owners([campaign("c1", ("l1",), 0), campaign("c2", ("l1",), 1, "globex")])
    assert owners == {("acme", "l1"): "c1", ("globex", "l1"): "c2"}


def test_allotments_respect_the_cap_and_skip_campaigns_without_room_or_lists() -> None:
    full = campaign("full", ("l1",), 0)
    room = campaign("room", ("l2", "l2"), 0)
    shadowed = campaign("shadowed", ("l1",), 9)  # l1 is full's
    plans = allot([full, room, shadowed], {("acme", "full"): 5, ("acme", "room"): 3}, cap=5)
    assert [(a.campaign.campaign_id, a.list_ids, a.quota) for a in plans] == [
        ("room", ("l2",), 2)]


def test_rotation_changes_which_campaign_is_served_first() -> None:
    cs = [campaign(c, (f"l-{c}",), 0) for c in ("a", "b", "c")]
    first = {allot(cs, {}, cap=1, rotation=r)[0].campaign.campaign_id for r in range(3)}
    assert first == {"a", "b", "c"}


def test_ids_sort_by_creation_time() -> None:
    ids = [new_id("lead", T0 + timedelta(milliseconds=ms)) for ms in (0, 1, 2, 1000, 86_400_000)]
    assert ids == sorted(ids)
    assert ids[0].startswith("lead-") and len(ids[0]) == len("lead-") + 36
