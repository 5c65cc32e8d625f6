"""Agent sessions through the API: states, refusals, tenancy, and the events on Kafka."""

from __future__ import annotations

import asyncio

import pytest

from common.events.catalog import AgentStateChangedV1, CallConnectedV1
from common.testing.services import RunningService, bearer, wait_for

pytestmark = pytest.mark.kafka

ACME = bearer("acme")


async def test_login_ready_pause_logout_round_trip(svc: RunningService, published) -> None:
    c = svc.client
    r = await c.post("/v1/agents/agent-3/login", json={"campaign_ids": ["camp-1"]}, headers=ACME)
    assert r.status_code == 200, r.text
    login = r.json()
    assert (login["state"], login["reason"], login["campaign_ids"]) == (
        "paused", "logged_in", ["camp-1"])
    assert login["session_id"].startswith("sess-") and login["current_call"] is None

    steps = [("ready", None), ("pause", {"reason": "lunch"}), ("ready", None), ("logout", None)]
    views = []
    for command, body in steps:
        r = await c.post(f"/v1/agents/agent-3/{command}", json=body, headers=ACME)
        assert r.status_code == 200, r.text
        views.append(r.json())
    assert [(v["state"], v["reason"]) for v in views] == [
        ("ready", None), ("paused", "lunch"), ("ready", None), ("logged_out", None)]

    r = await c.post("/v1/agents/agent-3/logout", headers=ACME)
    assert r.status_code == 409
    assert r.json()["error"]["message"] == "cannot logout while logged_out: log in first; " \
                                           "allowed now: login"
    assert r.json()["error"]["details"]["allowed"] == ["login"]
    r = await c.get("/v1/agents/agent-3", headers=ACME)
    assert r.status_code == 200 and r.json() == views[-1]

    events = await published("acme", 5)
    assert all(isinstance(e, AgentStateChangedV1) for e in events)
    assert [(e.state, e.reason) for e in events] == [  # type: ignore[attr-defined]
        ("paused", "logged_in"), ("ready", None), ("paused", "lunch"), ("ready", None),
        ("logged_out", None)]
    assert {(e.agent_id, e.session_id, tuple(e.campaign_ids))  # type: ignore[attr-defined]
            for e in events} == {("agent-3", login["session_id"], ("camp-1",))}
    assert events[-1].at.isoformat().replace("+00:00", "Z") == \
        views[-1]["since"].replace("+00:00", "Z")  # type: ignore[attr-defined]


async def test_bad_requests_are_precise(svc: RunningService) -> None:
    c = svc.client
    r = await c.post("/v1/agents/agent-3/login", json={"campaign_ids": []}, headers=ACME)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["loc"] == ["body", "campaign_ids"]
    r = await c.post("/v1/agents/agent-3/login", json={"campaign_ids": ["c"], "redy": True},
                     headers=ACME)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["body", "redy"]
    r = await c.post("/v1/agents/bad%20id/login", json={"campaign_ids": ["c"]}, headers=ACME)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["path", "agent_id"]
    r = await c.post("/v1/agents/agent-9/ready", headers=ACME)
    assert r.status_code == 404 and r.json()["error"]["message"] == "agent 'agent-9' not found"

    await c.post("/v1/agents/agent-3/login", json={"campaign_ids": ["c"], "ready": True},
                 headers=ACME)
    r = await c.post("/v1/agents/agent-3/pause", json={"reason": "nap"}, headers=ACME)
    assert r.status_code == 422
    assert r.json()["error"]["message"].startswith("unknown pause reason 'nap'; one of: break")
    r = await c.post("/v1/agents/agent-3/hangup", headers=ACME)
    assert r.status_code == 409
    assert r.json()["error"]["details"] == {"state": "ready", "reason": None, "call_id": None,
                                            "allowed": ["pause", "logout"]}
    r = await c.post("/v1/agents/agent-3/ready", headers=bearer("acme", ["agents:read"]))
    assert r.status_code == 403
    r = await c.get("/v1/agents/agent-3", headers=bearer("acme", ["leads:read"]))
    assert r.status_code == 403


async def test_tenants_are_isolated(svc: RunningService, publish_call_event, published) -> None:
    c, globex = svc.client, bearer("globex")
    r = await c.post("/v1/agents/agent-3/login", json={"campaign_ids": ["camp-a"], "ready": True},
                     headers=ACME)
    assert r.status_code == 200
    # another tenant does not see acme's agent-3, nor can it command it
    assert (await c.get("/v1/agents/agent-3", headers=globex)).status_code == 404
    assert (await c.post("/v1/agents/agent-3/pause", json={"reason": "break"},
                         headers=globex)).status_code == 404
    assert (await c.get("/v1/agents", headers=globex)).json() == {"items": [], "next_after": None}

    # ... and has its own agent-3, independent of acme's
    r = await c.post("/v1/agents/agent-3/login", json={"campaign_ids": ["camp-b"]}, headers=globex)
    assert r.status_code == 200 and r.json()["state"] == "paused"
    await publish_call_event("globex", CallConnectedV1(
        call_id="call-b1", campaign_id="camp-b", lead_id="lead-b1", agent_id="agent-3",
        at=r.json()["since"], wait_ms=300))

    async def globex_agent_on_call() -> bool:
        return (await c.get("/v1/agents/agent-3", headers=globex)).json()["state"] == "on_call"

    await wait_for(globex_agent_on_call, what="globex's agent-3 on_call")
    acme_agent = (await c.get("/v1/agents/agent-3", headers=ACME)).json()
    assert (acme_agent["state"], acme_agent["current_call"]) == ("ready", None)
    assert (await c.get("/v1/agents?campaign_id=camp-b", headers=ACME)).json()["items"] == []

    acme_events, globex_events = await published("acme", 1), await published("globex", 2)
    assert [e.state for e in acme_events] == ["ready"]  # type: ignore[attr-defined]
    assert [e.state for e in globex_events] == ["paused", "on_call"]  # type: ignore[attr-defined]


async def test_listing_filters_by_campaign_and_state_and_pages(svc: RunningService) -> None:
    c = svc.client
    for agent, campaigns, ready in [("agent-1", ["camp-a"], True), ("agent-2", ["camp-a", "camp-b"],
                                    False), ("agent-3", ["camp-b"], True), ("agent-4", ["camp-a"],
                                                                            True)]:
        r = await c.post(f"/v1/agents/{agent}/login",
                         json={"campaign_ids": campaigns, "ready": ready}, headers=ACME)
        assert r.status_code == 200

    async def ids(query: str) -> tuple[list[str], str | None]:
        r = await c.get(f"/v1/agents{query}", headers=ACME)
        assert r.status_code == 200, r.text
        return [a["agent_id"] for a in r.json()["items"]], r.json()["next_after"]

    assert await ids("") == (["agent-1", "agent-2", "agent-3", "agent-4"], None)
    assert await ids("?campaign_id=camp-a") == (["agent-1", "agent-2", "agent-4"], None)
    assert await ids("?campaign_id=camp-a&state=ready") == (["agent-1", "agent-4"], None)
    assert await ids("?state=paused") == (["agent-2"], None)
    assert await ids("?limit=2") == (["agent-1", "agent-2"], "agent-2")
    assert await ids("?limit=2&after=agent-2") == (["agent-3", "agent-4"], None)
    r = await c.get("/v1/agents?state=sleeping", headers=ACME)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == ["query", "state"]


async def test_concurrent_logins_of_one_agent_one_wins(svc: RunningService, published) -> None:
    async def login(campaign: str) -> int:
        r = await svc.client.post("/v1/agents/agent-5/login",
                                  json={"campaign_ids": [campaign], "ready": True}, headers=ACME)
        return r.status_code

    assert sorted(await asyncio.gather(*(login(f"camp-{i}") for i in range(4)))) == [
        200, 409, 409, 409]
    assert len(await published("acme", 1)) == 1
