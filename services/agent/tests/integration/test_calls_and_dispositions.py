"""A call reaches the agent (calls topic), is hung up and dispositioned; events on Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from agent.adapters.db import dispositions
from common.events.catalog import (
    AgentStateChangedV1,
    CallAnsweredV1,
    CallConnectedV1,
    CallEndedV1,
    DispositionSubmittedV1,
)
from common.testing.services import RunningService, bearer, wait_for

pytestmark = pytest.mark.kafka

ACME = bearer("acme")


def connected(call: str, lead: str, agent: str = "agent-7") -> CallConnectedV1:
    return CallConnectedV1(call_id=call, campaign_id="camp-1", lead_id=lead, agent_id=agent,
                           at=datetime.now(UTC), wait_ms=400)


async def test_a_call_from_connection_to_disposition(svc: RunningService, publish_call_event,
                                                     published) -> None:
    c = svc.client

    async def agent() -> dict:
        r = await c.get("/v1/agents/agent-7", headers=ACME)
        assert r.status_code == 200
        return r.json()

    async def state_is(state: str) -> None:
        async def check() -> bool:
            return (await agent())["state"] == state
        await wait_for(check, what=f"agent-7 {state}")

    r = await c.post("/v1/agents/agent-7/login", json={"campaign_ids": ["camp-1"], "ready": True},
                     headers=ACME)
    assert r.status_code == 200
    await publish_call_event("acme", CallAnsweredV1(  # not about an agent: ignored
        call_id="call-1", campaign_id="camp-1", lead_id="lead-1", at=datetime.now(UTC),
        answered_by="human"))
    await publish_call_event("acme", connected("call-1", "lead-1"))
    await state_is("on_call")
    assert (await agent())["current_call"] == {"call_id": "call-1", "lead_id": "lead-1",
                                               "campaign_id": "camp-1"}

    r = await c.post("/v1/agents/agent-7/logout", headers=ACME)
    assert r.status_code == 409 and "finish the call first" in r.json()["error"]["message"]
    r = await c.post("/v1/agents/agent-7/hangup", headers=ACME)
    assert r.status_code == 200
    assert (r.json()["state"], r.json()["current_call"]["call_id"]) == ("wrap_up", "call-1")

    r = await c.post("/v1/agents/agent-7/disposition",
                     json={"call_id": "call-0", "disposition": "sale"}, headers=ACME)
    assert r.status_code == 409
    assert r.json()["error"]["message"] == (
        "call 'call-0' is not the current call of agent 'agent-7' (wrapping up 'call-1')")
    r = await c.post("/v1/agents/agent-7/disposition",
                     json={"call_id": "call-1", "disposition": "callback"}, headers=ACME)
    assert r.status_code == 422
    assert r.json()["error"]["message"] == \
        "callback_at is required for the callback disposition 'callback'"
    assert r.json()["error"]["details"][0]["loc"] == ["body", "callback_at"]
    r = await c.post("/v1/agents/agent-7/disposition", json={
        "call_id": "call-1", "disposition": "callback", "callback_at": "2030-01-01T10:00:00"},
        headers=ACME)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["loc"] == \
        ["body", "callback_at"]  # no UTC offset

    r = await c.post("/v1/agents/agent-7/disposition", json={
        "call_id": "call-1", "disposition": "sale", "notes": "renewed for 2 years"}, headers=ACME)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["current_call"]) == ("ready", None)

    # the called party hangs up first: wrap-up without the agent's hang-up
    await publish_call_event("acme", connected("call-2", "lead-2"))
    await state_is("on_call")
    await publish_call_event("acme", CallEndedV1(
        call_id="call-2", campaign_id="camp-1", lead_id="lead-2", at=datetime.now(UTC),
        outcome="completed", ring_ms=9000, talk_ms=60000, agent_id="agent-7"))
    await state_is("wrap_up")
    assert (await c.post("/v1/agents/agent-7/hangup", headers=ACME)).json()["state"] == "wrap_up"
    callback_at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    r = await c.post("/v1/agents/agent-7/disposition", json={
        "call_id": "call-2", "disposition": "callback", "callback_at": callback_at.isoformat(),
        "then": "pause"}, headers=ACME)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["reason"]) == ("paused", "after_call")

    events = await published("acme", 9)
    assert [(type(e).__name__, getattr(e, "state", None), getattr(e, "call_id", None))
            for e in events] == [
        ("AgentStateChangedV1", "ready", None),
        ("AgentStateChangedV1", "on_call", "call-1"),
        ("AgentStateChangedV1", "wrap_up", "call-1"),
        ("DispositionSubmittedV1", None, "call-1"),
        ("AgentStateChangedV1", "ready", None),
        ("AgentStateChangedV1", "on_call", "call-2"),
        ("AgentStateChangedV1", "wrap_up", "call-2"),
        ("DispositionSubmittedV1", None, "call-2"),
        ("AgentStateChangedV1", "paused", None),
    ]
    sale, callback = events[3], events[7]
    assert isinstance(sale, DispositionSubmittedV1) and isinstance(callback, DispositionSubmittedV1)
    assert (sale.disposition, sale.category, sale.lead_id, sale.campaign_id, sale.callback_at) == (
        "sale", "success", "lead-1", "camp-1", None)
    assert (callback.category, callback.lead_id, callback.callback_at) == (
        "callback", "lead-2", callback_at)
    on_call = events[1]
    assert isinstance(on_call, AgentStateChangedV1) and on_call.campaign_ids == ["camp-1"]

    async with svc.runtime.sessions() as s:
        rows = (await s.execute(select(dispositions.c.call_id, dispositions.c.notes)
                                .order_by(dispositions.c.version))).all()
    assert [tuple(r) for r in rows] == [("call-1", "renewed for 2 years"), ("call-2", None)]


async def test_a_call_bridged_to_a_paused_agent_still_puts_it_on_call(
        svc: RunningService, publish_call_event, published) -> None:
    c = svc.client
    r = await c.post("/v1/agents/agent-8/login", json={"campaign_ids": ["camp-1"]}, headers=ACME)
    assert r.json()["state"] == "paused"
    await publish_call_event("acme", connected("call-5", "lead-5", agent="agent-8"))
    await publish_call_event("acme", connected("call-5", "lead-5", agent="agent-8"))  # again

    async def on_call() -> bool:
        return (await c.get("/v1/agents/agent-8", headers=ACME)).json()["state"] == "on_call"

    await wait_for(on_call, what="agent-8 on_call")
    events = await published("acme", 2)
    assert [e.state for e in events] == ["paused", "on_call"]  # type: ignore[attr-defined]
