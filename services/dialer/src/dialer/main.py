"""Composition root of the dialer service: `uvicorn --factory dialer.main:create_app`."""

from __future__ import annotations

import random
from pathlib import Path
from typing import cast

from fastapi import FastAPI

from common.app import ServiceRuntime, ServiceSpec, Worker, create_service_app
from common.settings import ServiceSettings
from common.topics import Topic
from dialer.adapters.db import metadata
from dialer.adapters.telephony import CarrierProfile, SimulatedCarrier
from dialer.api.campaigns import router as campaigns_router
from dialer.app.agents import AgentDesk
from dialer.app.calls import CallBook
from dialer.app.dialing_loop import DialingLoop
from dialer.app.hopper import Hopper
from dialer.settings import DialerSettings


def simulated_carrier(settings: DialerSettings) -> SimulatedCarrier:
    """The simulated carrier configured by the ``carrier_*`` settings."""
    profile = CarrierProfile(
        answer_probability=settings.carrier_answer_probability,
        machine_share=settings.carrier_machine_share,
        busy_share=settings.carrier_busy_share,
        failed_share=settings.carrier_failed_share,
        ring_min_s=settings.carrier_ring_min_s,
        ring_gamma_shape=settings.carrier_ring_gamma_shape,
        ring_gamma_scale_s=settings.carrier_ring_gamma_scale_s,
    )
    return SimulatedCarrier(profile, rng=random.Random(settings.carrier_seed),
                            time_scale=settings.time_scale)


def workers(runtime: ServiceRuntime) -> list[Worker]:
    """Consumers of compliance decisions, DNC entries and agent states; the dialing loop."""
    settings = cast(DialerSettings, runtime.settings)
    call_book = CallBook(runtime.event_store)
    hopper = Hopper(runtime.event_store, runtime.clock, settings.hopper_cap)
    desk = AgentDesk(call_book)
    return [
        runtime.consumer("dialer-hopper", [Topic.COMPLIANCE],
                         batch_handler=hopper.on_compliance_events),
        runtime.consumer("dialer-dnc", [Topic.DNC], batch_handler=hopper.on_dnc_events),
        runtime.consumer("dialer-agents", [Topic.AGENTS], handler=desk.on_agent_event),
        DialingLoop(sessions=runtime.sessions, clock=runtime.clock, settings=settings,
                    hopper_=hopper, call_book=call_book, gateway=simulated_carrier(settings)),
    ]


SPEC = ServiceSpec(
    name="dialer",
    routers=[campaigns_router],
    migrations=Path(__file__).parent / "migrations",
    metadata=metadata,
    workers=workers,
    settings_cls=DialerSettings,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
