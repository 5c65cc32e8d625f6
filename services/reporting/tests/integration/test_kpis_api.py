"""KPIs from real events on real Kafka, on SQLite and PostgreSQL, against hand-computed numbers.

Two tenants use the same campaign id ``camp-1`` and the same agent id ``a1``; tenant acme
also runs ``camp-2``. Every agent event (dispositions included) is projected BEFORE any
call event is published, and one call's events are published in reverse order, so every
call fact is built out of order.

Timeline of acme (seconds after T0):
  camp-1  c1 dialed 0, human 10, connected to a1 11, ended 71 (talk 60), sale at 101
          c2 dialed 5, machine 15, ended 20 · c3 dialed 6, no answer, ended 36
          c4 dialed 7, human 12, abandoned 14, ended 20
          c5 dialed 120, human 125, connected to a1 126, ended 216 (talk 90), contact at 236
  camp-2  c6 dialed 0, human 8, connected to a2 8, ended 128 (talk 120), callback at 158
          c7 dialed 50, busy, ended 52
  a1 [camp-1]   ready -60, on_call 11, wrap_up 71, ready 101, on_call 126, wrap_up 216,
                paused 236, ready 296, logged_out 300
  a2 [camp-2]   ready -30, on_call 8, wrap_up 128, ready 158, logged_out 200
  a3 [both]     ready 0, paused 100, logged_out 160
globex: camp-1 d1 dialed 0, machine 20, ended 25 · d2 dialed 1, no answer, ended 31;
        its own a1 [camp-1] ready 0, logged_out 600.
"""

from __future__ import annotations

from typing import Any

import pytest
from reporting_kit import EventLog, at, get_kpis, publish, wait_projected

from common.testing.services import bearer, running_service
from common.topics import Topic
from reporting.main import SPEC

pytestmark = pytest.mark.kafka

ACME, GLOBEX = "acme", "globex"


def scenario() -> EventLog:
    log = EventLog()
    log.call(ACME, "camp-1", "c1", dialed=0, answered=(10, "human"), connected=(11, "a1"),
             ended=71, outcome="completed", talk_ms=60_000)
    log.call(ACME, "camp-1", "c2", dialed=5, answered=(15, "machine"), ended=20,
             outcome="machine")
    log.call(ACME, "camp-1", "c3", dialed=6, ended=36, outcome="no_answer")
    log.call(ACME, "camp-1", "c4", dialed=7, answered=(12, "human"), abandoned=14, ended=20,
             outcome="abandoned")
    c5 = EventLog()
    c5.call(ACME, "camp-1", "c5", dialed=120, answered=(125, "human"), connected=(126, "a1"),
            ended=216, outcome="completed", talk_ms=90_000)
    log.by_topic[Topic.CALLS] += reversed(c5.by_topic[Topic.CALLS])  # ended first, dialed last
    log.call(ACME, "camp-2", "c6", dialed=0, answered=(8, "human"), connected=(8, "a2"),
             ended=128, outcome="completed", talk_ms=120_000)
    log.call(ACME, "camp-2", "c7", dialed=50, ended=52, outcome="busy")

    log.states(ACME, "a1", ["camp-1"], (-60, "ready"), (11, "on_call", "c1"),
               (71, "wrap_up", "c1"))
    log.disposition(ACME, "a1", "camp-1", "c1", at_s=101, disposition="sale", category="success")
    log.states(ACME, "a1", ["camp-1"], (101, "ready"), (126, "on_call", "c5"),
               (216, "wrap_up", "c5"))
    log.disposition(ACME, "a1", "camp-1", "c5", at_s=236, disposition="not_interested",
                    category="contact")
    log.states(ACME, "a1", ["camp-1"], (236, "paused", "break"), (296, "ready"),
               (300, "logged_out"))
    log.states(ACME, "a2", ["camp-2"], (-30, "ready"), (8, "on_call", "c6"),
               (128, "wrap_up", "c6"))
    log.disposition(ACME, "a2", "camp-2", "c6", at_s=158, disposition="call_back",
                    category="callback")
    log.states(ACME, "a2", ["camp-2"], (158, "ready"), (200, "logged_out"))
    log.states(ACME, "a3", ["camp-1", "camp-2"], (0, "ready"), (100, "paused", "lunch"),
               (160, "logged_out"))

    log.call(GLOBEX, "camp-1", "d1", dialed=0, answered=(20, "machine"), ended=25,
             outcome="machine")
    log.call(GLOBEX, "camp-1", "d2", dialed=1, ended=31, outcome="no_answer")
    log.states(GLOBEX, "a1", ["camp-1"], (0, "ready"), (600, "logged_out"))
    return log


def numbers(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("definitions", "range")}


def approx(expected: dict[str, Any]) -> dict[str, Any]:
    return {k: v if v is None or isinstance(v, str) else pytest.approx(v)
            for k, v in expected.items()}


ACME_CAMP_1 = {
    "campaign_id": "camp-1", "dials": 5, "connects": 4, "contacts": 3, "contact_rate": 3 / 5,
    "right_party_contacts": None, "conversions": 1, "conversion_rate": 1 / 5,
    "conversion_per_contact": 1 / 3, "abandoned": 1, "abandon_rate": 1 / 3,
    "handled_calls": 2, "att_s": (60 + 90) / 2, "acw_s": (30 + 20) / 2, "aht_s": 75 + 25,
    # a1: ready 71+25+4, paused 60, on_call 60+90, wrap_up 30+20; a3: ready 100, paused 60
    "occupancy": 200 / 400, "utilisation": 400 / 520,
}
ACME_CAMP_2 = {
    "campaign_id": "camp-2", "dials": 2, "connects": 1, "contacts": 1, "contact_rate": 1 / 2,
    "right_party_contacts": None, "conversions": 0, "conversion_rate": 0.0,
    "conversion_per_contact": 0.0, "abandoned": 0, "abandon_rate": 0.0,
    "handled_calls": 1, "att_s": 120.0, "acw_s": 30.0, "aht_s": 150.0,
    # a2: ready 38+42, on_call 120, wrap_up 30; a3: ready 100, paused 60
    "occupancy": 150 / 330, "utilisation": 330 / 390,
}
ACME_CAMP_1_FROM_100_TO_250 = {
    "campaign_id": "camp-1", "dials": 1, "connects": 1, "contacts": 1, "contact_rate": 1.0,
    "right_party_contacts": None, "conversions": 0, "conversion_rate": 0.0,
    "conversion_per_contact": 0.0, "abandoned": 0, "abandon_rate": 0.0,
    "handled_calls": 1, "att_s": 90.0, "acw_s": 20.0, "aht_s": 110.0,
    # clipped to [100, 250): a1 wrap_up 1+20, ready 25, on_call 90, paused 14; a3 paused 60
    "occupancy": 111 / 136, "utilisation": 136 / 210,
}
GLOBEX_CAMP_1 = {
    "campaign_id": "camp-1", "dials": 2, "connects": 1, "contacts": 0, "contact_rate": 0.0,
    "right_party_contacts": None, "conversions": 0, "conversion_rate": 0.0,
    "conversion_per_contact": None, "abandoned": 0, "abandon_rate": None,
    "handled_calls": 0, "att_s": None, "acw_s": None, "aht_s": None,
    "occupancy": 0.0, "utilisation": 1.0,
}
ACME_A1 = {"agent_id": "a1", "handled_calls": 2, "conversions": 1, "att_s": 75.0,
           "acw_s": 25.0, "aht_s": 100.0, "occupancy": 200 / 300, "utilisation": 300 / 360}
ACME_A1_FROM_100_TO_250 = {"agent_id": "a1", "handled_calls": 1, "conversions": 0,
                           "att_s": 90.0, "acw_s": 20.0, "aht_s": 110.0,
                           "occupancy": 111 / 136, "utilisation": 136 / 150}
ACME_A3 = {"agent_id": "a3", "handled_calls": 0, "conversions": 0, "att_s": None,
           "acw_s": None, "aht_s": None, "occupancy": 0.0, "utilisation": 100 / 160}
GLOBEX_A1 = {"agent_id": "a1", "handled_calls": 0, "conversions": 0, "att_s": None,
             "acw_s": None, "aht_s": None, "occupancy": 0.0, "utilisation": 1.0}


async def test_kpis_from_out_of_order_events_match_hand_computed_numbers(
        kafka_broker, database_url) -> None:
    log = scenario()
    acme, globex = bearer(ACME, ["kpis:read"]), bearer(GLOBEX, ["kpis:read"])
    async with running_service(SPEC, kafka_bootstrap=kafka_broker.bootstrap_servers,
                               database_url=database_url) as svc:
        # Dispositions and wrap-ups first: their call facts exist before any call event.
        await publish(kafka_broker.bootstrap_servers, svc.topic_prefix,
                      {Topic.AGENTS: log.by_topic[Topic.AGENTS]})
        await wait_projected(svc, {Topic.AGENTS: len(log.by_topic[Topic.AGENTS])})
        await publish(kafka_broker.bootstrap_servers, svc.topic_prefix,
                      {Topic.CALLS: log.by_topic[Topic.CALLS]})
        await wait_projected(svc, log.counts())

        camp_1 = await get_kpis(svc, "/v1/campaigns/camp-1/kpis", acme)
        assert numbers(camp_1) == approx(ACME_CAMP_1)
        assert set(camp_1["definitions"]) >= set(ACME_CAMP_1) - {"campaign_id"}
        assert camp_1["definitions"]["conversion_rate"] == "conversions ÷ dials"
        assert camp_1["range"] == {"from": None, "to": None}
        assert numbers(await get_kpis(svc, "/v1/campaigns/camp-2/kpis", acme)) == approx(
            ACME_CAMP_2)
        ranged = await get_kpis(svc, "/v1/campaigns/camp-1/kpis", acme,
                                **{"from": at(100).isoformat(), "to": at(250).isoformat()})
        assert numbers(ranged) == approx(ACME_CAMP_1_FROM_100_TO_250)
        assert ranged["range"] == {"from": "2025-03-03T09:01:40Z", "to": "2025-03-03T09:04:10Z"}

        a1 = await get_kpis(svc, "/v1/agents/a1/kpis", acme)
        assert numbers(a1) == approx(ACME_A1)
        assert set(a1["definitions"]) >= set(ACME_A1) - {"agent_id"}
        assert numbers(await get_kpis(svc, "/v1/agents/a1/kpis", acme, **{
            "from": at(100).isoformat(), "to": at(250).isoformat()})) == approx(
            ACME_A1_FROM_100_TO_250)
        assert numbers(await get_kpis(svc, "/v1/agents/a3/kpis", acme)) == approx(ACME_A3)

        # Tenant isolation: same campaign and agent ids, only globex's own facts.
        assert numbers(await get_kpis(svc, "/v1/campaigns/camp-1/kpis", globex)) == approx(
            GLOBEX_CAMP_1)
        assert numbers(await get_kpis(svc, "/v1/agents/a1/kpis", globex)) == approx(GLOBEX_A1)
        # acme's camp-2 / a2 are exactly as unknown to globex as ids nobody ever used.
        for kind, known, unknown in (("campaigns", "camp-2", "camp-nope"),
                                     ("agents", "a2", "a-nope")):
            theirs = await svc.client.get(f"/v1/{kind}/{known}/kpis", headers=globex)
            nobodys = await svc.client.get(f"/v1/{kind}/{unknown}/kpis", headers=globex)
            assert theirs.status_code == nobodys.status_code == 404
            assert theirs.json() == {"error": {
                "code": "not_found", "message": f"no data for {kind[:-1]} {known!r}",
                "details": None}}
            assert theirs.json()["error"]["message"].replace(known, unknown) == (
                nobodys.json()["error"]["message"])
            assert theirs.headers.keys() == nobodys.headers.keys()


async def test_kpi_requests_are_checked(kafka_broker, database_url) -> None:
    log = EventLog()
    log.call(ACME, "camp-1", "c1", dialed=0, ended=30, outcome="no_answer")
    async with running_service(SPEC, kafka_bootstrap=kafka_broker.bootstrap_servers,
                               database_url=database_url) as svc:
        await publish(kafka_broker.bootstrap_servers, svc.topic_prefix, log.by_topic)
        await wait_projected(svc, log.counts())
        path = "/v1/campaigns/camp-1/kpis"
        assert (await svc.client.get(path)).status_code == 401
        forbidden = await svc.client.get(path, headers=bearer(ACME, ["campaigns:read"]))
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["message"] == "missing scope(s): kpis:read"
        reader = bearer(ACME, ["kpis:read"])
        naive = await svc.client.get(path, headers=reader, params={"from": "2025-03-03T09:00"})
        assert naive.status_code == 422
        assert naive.json()["error"]["details"][0]["loc"] == ["query", "from"]
        backwards = await svc.client.get(path, headers=reader, params={
            "from": at(10).isoformat(), "to": at(10).isoformat()})
        assert backwards.status_code == 422
        assert backwards.json()["error"]["message"] == "'to' must be after 'from'"
        # A range with no calls in it: zero counts and null rates, not an error.
        empty = await get_kpis(svc, path, reader, **{"from": at(3600).isoformat()})
        assert (empty["dials"], empty["contact_rate"], empty["occupancy"]) == (0, None, None)
