"""Composition root of the leads service: `uvicorn --factory leads.main:create_app`."""

from __future__ import annotations

from fastapi import FastAPI

from common.app import ServiceSpec, create_service_app
from common.settings import ServiceSettings

SPEC = ServiceSpec(name="leads")


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return create_service_app(SPEC, settings)
