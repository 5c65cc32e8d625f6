"""Events: the envelope (CloudEvents in Kafka headers) and the typed payload catalog."""

from __future__ import annotations

from common.events.catalog import (
    EventPayload,
    UnknownEventType,
    payload_class,
    registered_types,
)
from common.events.envelope import EnvelopeError, EventEnvelope, KafkaHeaders, new_event_id
from common.telemetry import current_trace_context


def build_envelope(
    payload: EventPayload, *, tenant_id: str, source: str, subject: str | None = None
) -> EventEnvelope:
    """Wrap a payload in an envelope for ``tenant_id``, carrying the active trace context."""
    traceparent, tracestate = current_trace_context()
    return EventEnvelope(
        source=source,
        type=payload.event_type,
        subject=subject if subject is not None else payload.partition_key(),
        tenantid=tenant_id,
        key=payload.partition_key(),
        data=payload.model_dump(mode="json"),
        traceparent=traceparent,
        tracestate=tracestate,
    )


def parse_payload(envelope: EventEnvelope) -> EventPayload:
    """The typed payload of an envelope (raises UnknownEventType / pydantic.ValidationError)."""
    return payload_class(envelope.type).model_validate(envelope.data)


__all__ = [
    "EnvelopeError",
    "EventEnvelope",
    "EventPayload",
    "KafkaHeaders",
    "UnknownEventType",
    "build_envelope",
    "new_event_id",
    "parse_payload",
    "payload_class",
    "registered_types",
]
