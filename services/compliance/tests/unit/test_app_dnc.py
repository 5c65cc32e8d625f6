"""DNC commands and the in-process directory on a real (SQLite) database: normalisation,
idempotent add, remove, keyset listing, entry streams, and catching an index up with
changes written by another process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from compliance_kit import utc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import core_metadata, create_engine, create_session_factory
from common.errors import NotFound, Unprocessable
from common.eventstore import EventStore
from compliance.adapters.db import metadata
from compliance.app import dnc
from compliance.app.dnc_directory import DncDirectory

NOW = utc("2025-01-15T20:00:00Z")
NY, NY2 = "+12125550123", "+12125550124"


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/unit.db")
    async with engine.begin() as conn:
        await conn.run_sync(core_metadata.create_all)
        await conn.run_sync(metadata.create_all)
    yield create_session_factory(engine)
    await engine.dispose()


def test_numbers_are_normalised_or_refused_with_a_masked_reason() -> None:
    assert dnc.normalize_phone("(212) 555-0123", "us") == NY
    assert dnc.normalize_phone("020 7946 0018", "GB") == "+442079460018"
    with pytest.raises(Unprocessable, match=r"phone \+1\*\*\*\*55 is not a valid number"):
        dnc.normalize_phone("+1212555", "US")
    with pytest.raises(Unprocessable, match="cannot be parsed as a US number: not a phone number"):
        dnc.normalize_phone("call me", "US")
    with pytest.raises(Unprocessable, match=r"must be in E\.164 form"):
        dnc.require_e164("2125550123")
    assert dnc.require_e164(NY) == NY


def test_entry_streams_are_stable_and_do_not_spell_the_number() -> None:
    stream = dnc.entry_stream_id("tenant", NY)
    assert stream == dnc.entry_stream_id("tenant", NY) != dnc.entry_stream_id("campaign:c1", NY)
    assert stream.startswith("dnc-") and "2125550123" not in stream
    assert dnc.entry_key("acme", "tenant", NY) == "acme/tenant:+12125550123"
    assert dnc.entry_key("acme", "tenant", NY) != dnc.entry_key("globex", "tenant", NY)


async def test_add_is_idempotent_remove_is_404_when_absent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = EventStore("/test")
    async with sessions() as s, s.begin():
        entry, created = await dnc.add_entry(s, store, tenant_id="acme", phone_e164=NY,
                                             source="api", now=NOW)
        again, created_again = await dnc.add_entry(s, store, tenant_id="acme", phone_e164=NY,
                                                   source="disposition", now=utc("2025-01-16T00:00:00Z"))
        assert created and not created_again and again == entry
        await dnc.add_entry(s, store, tenant_id="acme", phone_e164=NY2, source="api", now=NOW)
        await dnc.remove_entry(s, store, tenant_id="acme", phone_e164=NY, now=NOW)
        with pytest.raises(NotFound, match=r"\+1\*\*\*\*\*\*\*\*23 is not on DNC list 'tenant'"):
            await dnc.remove_entry(s, store, tenant_id="acme", phone_e164=NY, now=NOW)
        with pytest.raises(NotFound):
            await dnc.remove_entry(s, store, tenant_id="globex", phone_e164=NY2, now=NOW)
        listed = await dnc.list_entries(s, tenant_id="acme", limit=10, after=None)
        assert [e.phone_e164 for e in listed] == [NY2]
        assert await dnc.list_entries(s, tenant_id="acme", limit=10, after=NY2) == []
        events = await store.load(s, tenant_id="acme", stream_id=dnc.entry_stream_id("tenant", NY))
        assert [e.envelope.type for e in events] == ["callcenter.dnc.added.v1",
                                                     "callcenter.dnc.removed.v1"]


async def test_the_directory_catches_up_with_changes_from_other_writers(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    store = EventStore("/test")
    async with sessions() as s, s.begin():
        await dnc.add_entry(s, store, tenant_id="acme", phone_e164=NY, source="api", now=NOW)
    directory = DncDirectory()
    async with sessions() as s, s.begin():
        await directory.load_all(s)
    assert [(h.list_name, h.version) for h in directory.hits("acme", NY)] == [("tenant", "1")]
    assert directory.hits("globex", NY) == []

    async with sessions() as s, s.begin():  # another process: remove NY, add NY2
        await dnc.remove_entry(s, store, tenant_id="acme", phone_e164=NY, now=NOW)
        await dnc.add_entry(s, store, tenant_id="acme", phone_e164=NY2, source="api", now=NOW)
        await dnc.add_entry(s, store, tenant_id="globex", phone_e164=NY, source="api", now=NOW)
    assert directory.hits("acme", NY) != []  # not refreshed yet
    async with sessions() as s, s.begin():
        await directory.refresh(s, ["acme"])
    assert directory.hits("acme", NY) == []
    assert [h.version for h in directory.hits("acme", NY2)] == ["3"]
    assert directory.hits("globex", NY) == []  # not part of this refresh
    assert directory.consulted("acme") == [{"list_id": "tenant", "kind": "tenant", "version": 3}]
    async with sessions() as s, s.begin():
        await directory.refresh(s, ["globex", "initech"])
    assert [h.version for h in directory.hits("globex", NY)] == ["1"]
    assert directory.consulted("initech") == [{"list_id": "tenant", "kind": "tenant", "version": 0}]
