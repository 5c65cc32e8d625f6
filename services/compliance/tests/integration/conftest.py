"""Fixtures of the compliance integration tests; makes ``compliance_it`` importable under
``--import-mode=importlib``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from compliance_it import CALLER_ID, Harness

from common.testing.services import running_service
from compliance.main import SPEC

StartService = Callable[..., Any]


@pytest.fixture
def start_compliance(kafka_broker: Any, database_url: str) -> StartService:
    """``async with start_compliance(clock_offset_s=...) as h``: the service on this backend."""

    @asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[Harness]:
        settings.setdefault("caller_id", CALLER_ID)
        settings.setdefault("waived_registries", ["US-DNC"])
        async with running_service(SPEC, kafka_bootstrap=kafka_broker.bootstrap_servers,
                                   database_url=database_url, **settings) as svc:
            harness = Harness(svc, kafka_broker.bootstrap_servers)
            await harness.facts_caught_up()
            yield harness

    return start
