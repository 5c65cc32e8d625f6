"""The import worker resumes a job whose worker died, and a worker that lost its lease
writes nothing more (no Kafka needed: the worker only writes the database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from common.app import ServiceRuntime
from common.clock import FixedClock
from common.db import event_store, outbox
from leads.adapters.db import leads
from leads.app.import_worker import ImportWorker, LostLease, Progress, check_rows
from leads.app.imports import Upload, create_import, get_import
from leads.app.lists import create_list
from leads.domain.rows import count_rows, read_rows
from leads.main import SPEC
from leads.settings import LeadsSettings

CSV = ("phone,name\n" + "".join(f"+1312555{i:04d},n{i}\n" for i in range(100, 110))
       + "+13125550100,again\n").encode()


@pytest.fixture
async def runtime(database_url: str) -> AsyncIterator[ServiceRuntime]:
    settings = LeadsSettings(database_url=database_url, role="api", jwt_secret="x" * 32,
                             log_json=False, import_chunk_rows=4, import_lease_s=30)
    rt = ServiceRuntime(spec=SPEC, settings=settings)
    await rt.start()
    rt.clock = FixedClock(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
    try:
        yield rt
    finally:
        await rt.stop()


async def test_a_job_resumes_after_its_worker_died_and_the_old_worker_is_fenced(
        runtime: ServiceRuntime) -> None:
    settings = LeadsSettings.model_validate(runtime.settings.model_dump())
    clock = runtime.clock
    assert isinstance(clock, FixedClock)
    async with runtime.sessions() as s, s.begin():
        lst = await create_list(s, tenant_id="acme", name="L", now=clock.now())
        job_id = await create_import(s, tenant_id="acme", list_id=lst["list_id"], now=clock.now(),
                                     upload=Upload("csv", CSV, count_rows("csv", CSV), "US"))

    # the first worker claims the job, stores one chunk of 4 rows, then dies silently
    dead = ImportWorker(runtime, settings)
    job = await dead._claim()
    assert job is not None
    rows = read_rows("csv", job["payload"])
    first = await dead._store(job, check_rows(rows, "US", 4), Progress.of(job))
    assert first.processed_rows == 4
    assert await ImportWorker(runtime, settings)._claim() is None  # its lease still holds

    clock.advance(31)
    assert await ImportWorker(runtime, settings).tick() is True  # takes over and finishes
    async with runtime.sessions() as s:
        done = await get_import(s, tenant_id="acme", job_id=job_id)
        assert (done["status"], done["processed_rows"], done["accepted"], done["duplicate"]) == (
            "done", 11, 10, 1)
        assert done["errors"] == [{"row": 12, "reason": "duplicate of row 2 of this import"}]
        n_leads = (await s.execute(select(func.count()).select_from(leads))).scalar_one()
        n_events = (await s.execute(select(func.count()).select_from(event_store))).scalar_one()
        n_outbox = (await s.execute(select(func.count()).select_from(outbox))).scalar_one()
        assert (n_leads, n_events, n_outbox) == (10, 10, 10)

    # the dead worker wakes up: it may not write its next chunk
    with pytest.raises(LostLease):
        await dead._store(job, check_rows(rows, "US", 4), first)
    async with runtime.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(leads))).scalar_one() == 10


async def test_a_stopping_worker_gives_its_job_back_at_a_chunk_boundary(
        runtime: ServiceRuntime) -> None:
    settings = LeadsSettings.model_validate(runtime.settings.model_dump())
    now = runtime.clock.now()
    async with runtime.sessions() as s, s.begin():
        lst = await create_list(s, tenant_id="acme", name="L", now=now)
        job_id = await create_import(s, tenant_id="acme", list_id=lst["list_id"], now=now,
                                     upload=Upload("csv", CSV, count_rows("csv", CSV), "US"))
    stopping = ImportWorker(runtime, settings)
    stopping.stop()
    assert await stopping.tick() is True
    async with runtime.sessions() as s:
        paused = await get_import(s, tenant_id="acme", job_id=job_id)
    assert (paused["status"], paused["processed_rows"], paused["lease_until"]) == (
        "queued", 4, None)
    await ImportWorker(runtime, settings).tick()  # no lease to wait for
    async with runtime.sessions() as s:
        done = await get_import(s, tenant_id="acme", job_id=job_id)
    assert (done["status"], done["accepted"], done["duplicate"]) == ("done", 10, 1)
