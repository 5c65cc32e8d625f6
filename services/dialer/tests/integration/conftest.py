"""The dialer wired on a real database (SQLite and PostgreSQL) with a fixed clock and a
scripted telephony gateway: use cases driven directly, without Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common.clock import FixedClock
from common.consumer import ConsumedEvent
from common.db import core_metadata, create_engine, create_session_factory, event_store
from common.events import EventPayload, build_envelope
from common.events.catalog import AgentStateChangedV1, ComplianceDecidedV1
from common.eventstore import EventStore
from common.migrations import upgrade_to_head
from dialer.adapters.db import metadata
from dialer.adapters.telephony import Progress
from dialer.app.agents import AgentDesk
from dialer.app.calls import CallBook
from dialer.app.campaigns import CampaignDesk
from dialer.app.dialing_loop import DialingLoop
from dialer.app.hopper import Hopper
from dialer.app.ownership import Ownership
from dialer.app.pacing import Pacer
from dialer.app.previews import PreviewDesk
from dialer.app.statistics import StatisticsBook
from dialer.domain.campaign import CampaignCommand
from dialer.domain.trunk import TrunkLimits, TrunkMeter
from dialer.main import SPEC
from dialer.settings import DialerSettings

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
TENANT = "acme"
CALLER_ID = "+12125550100"
ABANDON_MESSAGE = "This is Acme calling; call 212 555 0100 to opt out."


def make_loop(sessions: async_sessionmaker[AsyncSession], clock: FixedClock,
              settings: DialerSettings, store: EventStore, hopper: Hopper, calls: CallBook,
              gateway: Any, ownership: Ownership, instance_id: str,
              name: str | None = None) -> DialingLoop:
    """A dialing loop wired like the service's (outbox of the event store, no Kafka)."""
    pacer = Pacer(hopper_=hopper, call_book=calls, outbox=store.outbox, source=store.source,
                  statistics=StatisticsBook(), owner_id=instance_id,
                  trunk=TrunkMeter(TrunkLimits(settings.trunk_calls_per_second,
                                               settings.trunk_max_concurrent_lines), 0.0),
                  event_interval_s=settings.pacing_event_interval_s)
    return DialingLoop(sessions=sessions, clock=clock, settings=settings, hopper_=hopper,
                       call_book=calls, gateway=gateway, pacer=pacer,
                       previews_=PreviewDesk(hopper, calls), ownership=ownership,
                       instance_id=instance_id, name=name)


@dataclass
class ScriptedGateway:
    """Every call reports ``script`` (after ``delay_s`` each); records what was dialed."""

    script: Sequence[Progress] = (Progress.RINGING, Progress.NO_ANSWER)
    delay_s: float = 0.0
    dialed: list[str] = field(default_factory=list)
    dial_args: list[tuple[float, str | None]] = field(default_factory=list)
    legs: list[tuple[str, str, str | None]] = field(default_factory=list)  # (call, action, msg)
    hold: asyncio.Event | None = None  # when set: wait for it before the terminal progress
    closed: list[str] = field(default_factory=list)  # calls whose dial iterator was closed

    async def dial(self, call_id: str, phone_e164: str, ring_timeout_s: float, *,  # type: ignore[no-untyped-def]
                   caller_id: str | None = None):
        self.dialed.append(phone_e164)
        self.dial_args.append((ring_timeout_s, caller_id))
        try:
            for progress in self.script:
                if self.hold is not None and progress is not Progress.RINGING:
                    await self.hold.wait()
                await asyncio.sleep(self.delay_s)
                yield progress
        finally:
            self.closed.append(call_id)

    leg_times: list[float] = field(default_factory=list)  # loop time of each legs entry

    async def play_message(self, call_id: str, message: str) -> None:
        self.legs.append((call_id, "play", message))
        self.leg_times.append(asyncio.get_running_loop().time())

    async def hang_up(self, call_id: str) -> None:
        self.legs.append((call_id, "hang_up", None))
        self.leg_times.append(asyncio.get_running_loop().time())


@dataclass
class Dialer:
    sessions: async_sessionmaker[AsyncSession]
    clock: FixedClock
    gateway: ScriptedGateway
    hopper: Hopper
    calls: CallBook
    agents: AgentDesk
    campaigns: CampaignDesk
    loop: DialingLoop
    settings: DialerSettings
    store: EventStore
    previews: PreviewDesk

    def new_loop(self, instance_id: str, ownership: Ownership | None = None,
                 name: str | None = None) -> DialingLoop:
        """Another dialer process on the same database."""
        return make_loop(self.sessions, self.clock, self.settings, self.store, self.hopper,
                         self.calls, self.gateway, ownership or Ownership(static=True),
                         instance_id, name)

    async def txn(self, op: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with self.sessions() as session, session.begin():
            return await op(session)

    async def deliver(self, handler: Callable[..., Awaitable[None]], *payloads: EventPayload,
                      tenant: str = TENANT, batch: bool = True) -> None:
        """Hand events to a consumer handler as the consumer runner would."""
        events = [ConsumedEvent(build_envelope(p, tenant_id=tenant, source="/test"), "t", 0, i)
                  for i, p in enumerate(payloads)]

        async def run(session: AsyncSession) -> None:
            if batch:
                await handler(session, events)
            else:
                for event in events:
                    await handler(session, event)

        await self.txn(run)

    async def campaign(self, tenant: str = TENANT, start: bool = True, **settings: Any) -> str:
        async def create(session: AsyncSession) -> str:
            row = await self.campaigns.create(session, tenant, name="c", list_ids=("list-1",),
                                              **{"caller_id": CALLER_ID,
                                                 "abandon_message": ABANDON_MESSAGE} | settings)
            if start:
                await self.campaigns.apply(session, tenant, row.campaign_id, CampaignCommand.START)
            return str(row.campaign_id)

        return str(await self.txn(create))

    async def clear(self, campaign_id: str, lead: str, phone: str, valid_s: float = 600,
                    tenant: str = TENANT, attempt: int = 1) -> None:
        await self.deliver(self.hopper.on_compliance_events, cleared(
            campaign_id, lead, phone, self.clock.now(), valid_s, attempt), tenant=tenant)

    async def agent(self, agent_id: str, state: str, campaign_ids: Sequence[str] = (),
                    call_id: str | None = None, at: datetime | None = None,
                    tenant: str = TENANT) -> None:
        await self.deliver(self.agents.on_agent_event, AgentStateChangedV1(
            agent_id=agent_id, session_id=f"s-{agent_id}", state=state,  # type: ignore[arg-type]
            campaign_ids=list(campaign_ids), call_id=call_id, at=at or self.clock.now()),
            tenant=tenant, batch=False)

    async def events(self, kind: str) -> list[dict[str, Any]]:
        """Data of the stored events whose type contains ``kind`` (e.g. "call.ended")."""
        result = await self.txn(lambda s: s.execute(
            select(event_store.c.data).where(event_store.c.event_type.contains(kind))
            .order_by(event_store.c.recorded_at, event_store.c.version)))
        return [dict(row.data) for row in result]

    async def run_calls(self, orders: Sequence[Any]) -> None:
        await asyncio.gather(*(self.loop.follow(o) for o in orders))


def cleared(campaign_id: str, lead: str, phone: str, now: datetime,
            valid_s: float = 600, attempt: int = 1) -> ComplianceDecidedV1:
    return ComplianceDecidedV1(
        decision_id=f"dec-{lead}", lead_id=lead, list_id="list-1", campaign_id=campaign_id,
        attempt=attempt, phone_e164=phone, outcome="cleared", valid_until=now + timedelta(seconds=valid_s),
        policy_version="sha256:test")


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def migrated_engine(request: pytest.FixtureRequest,
                          tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncEngine]:
    """One migrated database per module and backend (migrations run once, not per test)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('dialer')}/dialer.db"
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"t_{uuid.uuid4().hex[:16]}"
        server.create_database(name)
        url = str(server.dsn(name))
    await upgrade_to_head(url, SPEC.migrations, [SPEC.metadata] if SPEC.metadata else [])
    engine = create_engine(url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def dialer(migrated_engine: AsyncEngine) -> Dialer:
    """The dialer's use cases on an emptied database, at T0."""
    async with migrated_engine.begin() as conn:
        for table in (*core_metadata.sorted_tables, *metadata.sorted_tables):
            await conn.execute(table.delete())
    sessions = create_session_factory(migrated_engine)
    store = EventStore("/kaden/dialer")
    clock = FixedClock(T0)
    settings = DialerSettings(database_url=str(migrated_engine.url), route_poll_s=0.05,
                              partition_ownership=False)
    gateway = ScriptedGateway()
    hopper = Hopper(store, clock, cap=100)
    calls = CallBook(store)
    loop = make_loop(sessions, clock, settings, store, hopper, calls, gateway,
                     Ownership(static=True), "dialer-test")
    return Dialer(sessions, clock, gateway, hopper, calls, AgentDesk(calls),
                  CampaignDesk(store, clock), loop, settings, store, PreviewDesk(hopper, calls))
