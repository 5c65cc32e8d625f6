"""Extreme instants never crash the datetime inputs of the API: every ``at`` of a batch
check and every ``from``/``to`` of an export answers 200 or a precise 422, never a 500
(hypothesis over the whole datetime range and offsets from -23:59 to +23:59)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.testing.services import bearer

pytestmark = pytest.mark.kafka

ACME = bearer("acme")
_OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m)))
# Edges of the datetime range, plus instants near now where requests succeed.
INSTANTS = st.one_of(
    st.datetimes(timezones=_OFFSETS),
    st.sampled_from([datetime.min, datetime.max, datetime(9999, 12, 31, 23, 59)]).flatmap(
        lambda d: _OFFSETS.map(lambda tz: d.replace(tzinfo=tz))),
    st.integers(-400, 400).map(lambda days: datetime.now(UTC) + timedelta(days=days)),
)


async def test_extreme_instants_answer_200_or_a_precise_422(start_compliance: Any) -> None:
    async with start_compliance() as h:
        await h.known_campaigns("acme", "camp-1")
        loop = asyncio.get_running_loop()

        def call(*args: Any, **kw: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(h.client.request(*args, **kw), loop).result()

        @settings(max_examples=40, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(at=INSTANTS)
        def check_at(at: datetime) -> None:
            r = call("POST", "/v1/compliance/checks", headers=ACME, json={
                "at": at.isoformat(), "items": [{"phone_e164": "+12125550123",
                                                 "campaign_id": "camp-1"}]})
            assert r.status_code in (200, 422), r.text
            if r.status_code == 422:
                assert "'at'" in r.json()["error"]["message"]

        @settings(max_examples=60, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(start=INSTANTS, end=INSTANTS)
        def export_period(start: datetime, end: datetime) -> None:
            r = call("GET", "/v1/decisions/export", headers=ACME,
                     params={"from": start.isoformat(), "to": end.isoformat()})
            assert r.status_code in (200, 422), r.text
            if r.status_code == 422:
                assert r.json()["error"]["message"]

        await asyncio.to_thread(check_at)
        await asyncio.to_thread(export_period)
