"""The request session commits before the response: a failing commit is never a 200."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import text

from common.app import ServiceSpec, SessionDep, create_service_app
from common.settings import ServiceSettings

router = APIRouter()


@router.post("/violate")
async def violate(session: SessionDep) -> dict[str, str]:
    # deferred failure: only the COMMIT finds the conflict
    await session.execute(text("INSERT INTO t (id) VALUES (1)"))
    return {"status": "stored"}


@pytest.fixture
async def app(tmp_path):
    settings = ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/s.db", role="api",
                               jwt_secret="x" * 32, log_json=False)
    application = create_service_app(ServiceSpec(name="shell", routers=[router]), settings)
    async with application.router.lifespan_context(application):
        async with application.state.runtime.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY "
                                    "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"))
        yield application


async def test_failed_commit_is_an_error_response_not_a_200(app) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/violate")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal", "message": "internal error", "details": None}}
