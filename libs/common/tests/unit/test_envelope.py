from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from common.events import EnvelopeError, EventEnvelope, build_envelope, parse_payload
from common.events.catalog import CallAnsweredV1, LeadDueV1, payload_class


def due() -> LeadDueV1:
    return LeadDueV1(lead_id="lead-1", list_id="l", campaign_id="c", attempt=1,
                     due_at="2026-11-23T10:00:00Z", phone_e164="+13125550142", country="US")


def test_kafka_round_trip_keeps_every_attribute() -> None:
    env = build_envelope(due(), tenant_id="acme", source="/kaden/leads")
    key, value, headers = env.to_kafka()
    assert key == b"lead-1"
    names = dict(headers)
    assert names["ce_type"] == b"callcenter.lead.due.v1"
    assert names["ce_tenantid"] == b"acme"
    assert names["content-type"] == b"application/json"
    assert EventEnvelope.from_kafka(key, value, headers) == env
    assert parse_payload(env) == due()


@pytest.mark.parametrize(
    ("headers", "value", "message"),
    [
        ([], b"{}", "missing CloudEvents header(s): ce_id, ce_source, ce_type, ce_tenantid"),
        ([("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t"), ("ce_tenantid", b"x"),
          ("ce_specversion", b"0.3")], b"{}", "unsupported ce_specversion '0.3'"),
        ([("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t"), ("ce_tenantid", b"x")],
         b"[1]", "data must be a JSON object"),
        ([("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t"), ("ce_tenantid", b"x")],
         b"{oops", "data is not JSON"),
        ([("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t"), ("ce_tenantid", b"x"),
          ("ce_time", b"yesterday")], b"{}", "ce_time is not RFC 3339"),
    ],
)
def test_malformed_records_are_refused_with_the_precise_problem(headers, value, message) -> None:
    with pytest.raises(EnvelopeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EventEnvelope.from_kafka(b"k", value, headers)


def test_envelope_carries_the_active_trace() -> None:
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span("import") as span:
        env = build_envelope(due(), tenant_id="acme", source="/kaden/leads")
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert env.traceparent is not None and trace_id in env.traceparent
    assert dict(env.to_kafka()[2])["traceparent"] == env.traceparent.encode()
    assert trace.get_current_span() is not span


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_any_tenant_and_key_text_survive_the_round_trip(tenant: str, call_id: str) -> None:
    payload = CallAnsweredV1(call_id=call_id, campaign_id="c", lead_id="l",
                             at="2026-11-23T10:00:00Z", answered_by="human")
    env = build_envelope(payload, tenant_id=tenant, source="/kaden/dialer")
    back = EventEnvelope.from_kafka(*env.to_kafka())
    assert back.tenantid == tenant and back.key == call_id
    assert payload_class(back.type).model_validate(back.data) == payload
    assert json.loads(env.to_kafka()[1])["call_id"] == call_id
