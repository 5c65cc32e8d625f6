"""Screening fails closed when the facts consumer is behind (``facts.stale``), a quiet
system does not look stale, and unknown campaigns are retried less and less often."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest
from compliance_it import lead_due, offset_to_weekday
from facts_it import blocking, decided
from prometheus_client import REGISTRY

from common.testing.services import wait_for
from compliance.app.facts_watermark import FACTS_GROUP, caught_up_at

pytestmark = pytest.mark.kafka

NUMBER = "+12125550123"


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_quiet_system_stays_fresh_and_a_stalled_watermark_blocks(
        start_compliance: Any) -> None:
    async with start_compliance(clock_offset_s=offset_to_weekday(time(15)),
                                facts_watermark_interval_s=1) as h:
        await h.known_campaigns("acme", "camp-1")
        clock = h.svc.runtime.clock
        clock.shift(300)  # five quiet minutes: no event on any facts topic
        shifted = clock.now()
        group = f"{h.svc.topic_prefix}{FACTS_GROUP}"

        async def advanced() -> bool:
            async with h.svc.runtime.sessions() as s:
                at = await caught_up_at(s, group)
            return at is not None and at >= shifted

        await wait_for(advanced, timeout_s=20, what="the watermark past the quiet period")
        await h.send("acme", "leads", lead_due("q-1", NUMBER, campaign_id="camp-1"))
        assert (await decided(h, "acme", "q-1"))["outcome"] == "cleared"

    async with start_compliance(clock_offset_s=offset_to_weekday(time(15)),
                                facts_watermark_interval_s=60) as h:
        # One check at start, then none for a minute: past facts_max_lag_s (120 s) the
        # facts may be missing, so every lead is blocked for a short retry.
        await h.known_campaigns("acme", "camp-1")
        h.svc.runtime.clock.shift(121)
        await h.send("acme", "leads", lead_due("s-1", NUMBER, campaign_id="camp-1"))
        stale = await decided(h, "acme", "s-1")
        assert stale["outcome"] == "blocked" and blocking(stale) == ["facts.stale"]
        assert _instant(stale["earliest_callable_at"]) - _instant(stale["decided_at"]) == \
            timedelta(seconds=30)
        assert NUMBER not in str(stale)


async def test_unknown_campaign_retries_double_per_consecutive_block(
        start_compliance: Any) -> None:
    before = REGISTRY.get_sample_value("kaden_compliance_retry_blocks_total",
                                       {"rule": "campaign.unknown"}) or 0.0
    async with start_compliance() as h:
        delays = []
        for attempt in (1, 2, 3, 4):
            await h.send("acme", "leads", lead_due("u-1", NUMBER, campaign_id="never-heard")
                         .model_copy(update={"attempt": attempt}))
            d = await decided(h, "acme", "u-1", attempt)
            assert blocking(d) == ["campaign.unknown"]
            delays.append((_instant(d["earliest_callable_at"]) - _instant(d["decided_at"]))
                          .total_seconds())
        assert delays == [10, 20, 40, 80]
        # Another lead starts at the base delay.
        await h.send("acme", "leads", lead_due("u-2", NUMBER, campaign_id="never-heard"))
        d = await decided(h, "acme", "u-2")
        assert (_instant(d["earliest_callable_at"]) - _instant(d["decided_at"])).total_seconds() \
            == 10
    after = REGISTRY.get_sample_value("kaden_compliance_retry_blocks_total",
                                      {"rule": "campaign.unknown"})
    assert after == before + 5
