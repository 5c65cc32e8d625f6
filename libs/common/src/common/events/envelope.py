"""The event envelope: CloudEvents 1.0 attributes, binary content mode in Kafka headers.

A Kafka record carries:
  key      the partition key (lead id, call id, agent id, campaign id ...), UTF-8
  value    the JSON ``data`` of the event
  headers  ``ce_specversion``, ``ce_id``, ``ce_source``, ``ce_type``, ``ce_time``,
           ``ce_subject``, ``ce_tenantid`` (tenant extension), ``content-type``,
           and W3C ``traceparent`` / ``tracestate`` when a trace is active.
See https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"

KafkaHeaders = list[tuple[str, bytes]]


class EnvelopeError(ValueError):
    """A Kafka record that is not a valid Kaden CloudEvent (missing or malformed attribute)."""


def new_event_id() -> str:
    """A fresh, globally unique event id (UUID4 string)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


class EventEnvelope(BaseModel):
    """One event: CloudEvents context attributes plus the JSON data."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_event_id)
    source: str
    type: str
    time: datetime = Field(default_factory=utcnow)
    subject: str | None = None
    tenantid: str
    key: str
    data: dict[str, Any]
    traceparent: str | None = None
    tracestate: str | None = None
    specversion: str = SPEC_VERSION

    def to_kafka(self) -> tuple[bytes, bytes, KafkaHeaders]:
        """Encode as (key, value, headers) for a Kafka record in binary content mode."""
        headers: KafkaHeaders = [
            ("ce_specversion", self.specversion.encode()),
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_time", self.time.isoformat().encode()),
            ("ce_tenantid", self.tenantid.encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]
        if self.subject is not None:
            headers.append(("ce_subject", self.subject.encode()))
        if self.traceparent:
            headers.append(("traceparent", self.traceparent.encode()))
        if self.tracestate:
            headers.append(("tracestate", self.tracestate.encode()))
        value = json.dumps(self.data, separators=(",", ":"), default=str).encode()
        return self.key.encode(), value, headers

    @classmethod
    def from_kafka(
        cls, key: bytes | None, value: bytes | None, headers: KafkaHeaders | None
    ) -> EventEnvelope:
        """Decode a Kafka record; raises :class:`EnvelopeError` with the precise problem."""
        h = {name: raw.decode("utf-8", "replace") for name, raw in headers or ()}
        missing = [a for a in ("ce_id", "ce_source", "ce_type", "ce_tenantid") if not h.get(a)]
        if missing:
            raise EnvelopeError(f"missing CloudEvents header(s): {', '.join(missing)}")
        if h.get("ce_specversion", SPEC_VERSION) != SPEC_VERSION:
            raise EnvelopeError(f"unsupported ce_specversion {h['ce_specversion']!r}")
        if value is None:
            raise EnvelopeError("record has no value (tombstone) but carries event headers")
        try:
            data = json.loads(value)
        except ValueError as exc:
            raise EnvelopeError(f"data is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EnvelopeError("data must be a JSON object")
        try:
            time = datetime.fromisoformat(h["ce_time"]) if "ce_time" in h else utcnow()
        except ValueError as exc:
            raise EnvelopeError(f"ce_time is not RFC 3339: {h['ce_time']!r}") from exc
        if time.tzinfo is None:
            raise EnvelopeError(f"ce_time has no UTC offset: {h['ce_time']!r}")
        # Every attribute was checked above: skip a second validation pass on the hot path.
        return cls.model_construct(
            id=h["ce_id"],
            source=h["ce_source"],
            type=h["ce_type"],
            time=time,
            subject=h.get("ce_subject"),
            tenantid=h["ce_tenantid"],
            key=(key or b"").decode("utf-8", "replace"),
            data=data,
            traceparent=h.get("traceparent"),
            tracestate=h.get("tracestate"),
            specversion=SPEC_VERSION,
        )
