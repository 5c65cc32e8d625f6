"""Service settings: one pydantic-settings object per service, validated at start-up.

Environment variables are prefixed with ``KADEN_`` (e.g. ``KADEN_DATABASE_URL``,
``KADEN_KAFKA_BOOTSTRAP_SERVERS``). Defaults are the embedded ones: an SQLite file per
service and a local broker on 127.0.0.1:9092.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Settings shared by every service; a service subclasses it to add its own."""

    model_config = SettingsConfigDict(env_prefix="KADEN_", env_file=None, extra="ignore")

    environment: str = "local"
    role: Literal["all", "api", "worker"] = Field(
        "all", description="api: HTTP only; worker: relay + consumers only; all: both"
    )
    database_url: str = Field(
        "sqlite+aiosqlite:///./.run/kaden.db",
        description="SQLAlchemy async URL (sqlite+aiosqlite:/// or postgresql+asyncpg://)",
    )
    database_pool_size: int = 10
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = ""
    kafka_partitions_override: int | None = Field(
        None, description="create topics with this many partitions (embedded default, tests)"
    )
    jwt_issuer: str = "kaden-local"
    jwt_audience: str = "kaden"
    jwt_secret: SecretStr | None = Field(
        None, description="HS256 key for the embedded default; production uses jwt_jwks_url"
    )
    jwt_public_key: str | None = Field(None, description="PEM public key (RS256/ES256)")
    jwt_jwks_url: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    otel_exporter_otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP endpoint; unset = traces are created but not exported"
    )
    migrate_on_start: bool = Field(
        True, description="apply alembic migrations at start-up (Kubernetes runs a Job instead)"
    )
    clock_offset_s: float = Field(
        0.0, description="shift this service's clock (end-to-end tests, demos); 0 in production"
    )
    relay_batch_size: int = 500
    relay_idle_poll_s: float = 0.05
    consumer_batch_size: int = 500

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, v: str) -> str:
        if v.startswith("sqlite:") or v.startswith("postgresql:"):
            raise ValueError(
                "database_url needs an async driver: sqlite+aiosqlite:/// or postgresql+asyncpg://"
            )
        return v
