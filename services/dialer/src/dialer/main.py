"""Composition root of the dialer service: `uvicorn --factory dialer.main:create_app`."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from common.app import ServiceRuntime, ServiceSpec, Worker, create_service_app
from common.clock import Clock
from common.consumer import ConsumedEvent
from common.settings import ServiceSettings
from common.topics import Topic
from dialer.adapters.db import metadata
from dialer.adapters.simulated_carrier import CarrierProfile, SimulatedCarrier
from dialer.api.campaigns import router as campaigns_router
from dialer.api.previews import router as previews_router
from dialer.app.agents import AgentDesk
from dialer.app.budgets import on_budget_events
from dialer.app.calls import CallBook
from dialer.app.dialing_loop import DialingLoop
from dialer.app.hopper import Hopper
from dialer.app.ownership import Ownership, OwnershipWorker, new_instance_id
from dialer.app.pacing import Pacer
from dialer.app.previews import PreviewDesk
from dialer.app.statistics import StatisticsBook
from dialer.domain.trunk import TrunkLimits, TrunkMeter
from dialer.settings import DialerSettings


def simulated_carrier(settings: DialerSettings, clock: Clock) -> SimulatedCarrier:
    """The simulated carrier configured by the ``carrier_*`` settings, on the service's
    clock (its hour of day drives the answer rate)."""
    profile = CarrierProfile(
        answer_probability=settings.carrier_answer_probability,
        machine_share=settings.carrier_machine_share,
        busy_share=settings.carrier_busy_share,
        failed_share=settings.carrier_failed_share,
        ring_min_s=settings.carrier_ring_min_s,
        ring_gamma_shape=settings.carrier_ring_gamma_shape,
        ring_gamma_scale_s=settings.carrier_ring_gamma_scale_s,
        hourly_answer_profile=tuple(settings.carrier_hourly_answer_profile),
        amd_false_positive_share=settings.carrier_amd_false_positive_share,
        amd_false_negative_share=settings.carrier_amd_false_negative_share,
        message_words_per_second=settings.carrier_message_words_per_second,
        max_leg_s=settings.carrier_max_leg_s,
    )
    return SimulatedCarrier(profile, rng=random.Random(settings.carrier_seed),
                            clock=clock,
                            time_scale=settings.time_scale,
                            fallback_timezone=settings.carrier_fallback_timezone)


def workers(runtime: ServiceRuntime) -> list[Worker]:
    """Consumers of compliance decisions and budgets, DNC entries and agent states; the
    pacing ownership membership; the dialing loop."""
    settings = cast(DialerSettings, runtime.settings)
    call_book = CallBook(runtime.event_store)
    hopper = Hopper(runtime.event_store, runtime.clock, settings.hopper_cap)
    desk = AgentDesk(call_book)
    instance_id = new_instance_id(settings.instance_id)
    ownership = Ownership(static=not settings.partition_ownership)
    pacer = Pacer(hopper_=hopper, call_book=call_book, outbox=runtime.outbox,
                  source=runtime.event_store.source,
                  statistics=StatisticsBook(settings.statistics_rebuild_calls),
                  trunk=TrunkMeter(TrunkLimits(settings.trunk_calls_per_second,
                                               settings.trunk_max_concurrent_lines),
                                   time.monotonic()),
                  owner_id=instance_id, event_interval_s=settings.pacing_event_interval_s)

    async def on_compliance(session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
        await hopper.on_compliance_events(session, events)
        await on_budget_events(session, events)

    loop_workers: list[Worker] = [
        runtime.consumer("dialer-hopper", [Topic.COMPLIANCE], batch_handler=on_compliance),
        runtime.consumer("dialer-dnc", [Topic.DNC], batch_handler=hopper.on_dnc_events),
        runtime.consumer("dialer-agents", [Topic.AGENTS], handler=desk.on_agent_event),
        DialingLoop(sessions=runtime.sessions, clock=runtime.clock, settings=settings,
                    hopper_=hopper, call_book=call_book, gateway=simulated_carrier(settings, runtime.clock),
                    pacer=pacer, previews_=PreviewDesk(hopper, call_book), ownership=ownership,
                    instance_id=instance_id, name=settings.instance_id),
    ]
    if settings.partition_ownership:
        loop_workers.append(OwnershipWorker(
            ownership, bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=f"{settings.kafka_topic_prefix}dialer-pacing",
            topic=runtime.topic(Topic.CAMPAIGNS), client_id=instance_id))
    return loop_workers


SPEC = ServiceSpec(
    name="dialer",
    routers=[campaigns_router, previews_router],
    migrations=Path(__file__).parent / "migrations",
    metadata=metadata,
    workers=workers,
    settings_cls=DialerSettings,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
