"""OpenTelemetry tracing: set-up, and W3C trace context through Kafka headers.

One trace follows a lead from the HTTP request that imported it, through the outbox
(the ``traceparent`` is captured into the envelope when the event is built), Kafka, and
every consumer (which continues the trace from the record's headers).
Span attributes never carry personal data: no phone numbers, no lead names.
"""

from __future__ import annotations

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_configured = False


def setup_tracing(service_name: str, otlp_endpoint: str | None = None) -> None:
    """Install the SDK tracer provider once per process; export via OTLP/HTTP if configured."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces"))
        )
    trace.set_tracer_provider(provider)
    _configured = True


def tracer() -> trace.Tracer:
    return trace.get_tracer("kaden")


def current_trace_context() -> tuple[str | None, str | None]:
    """(traceparent, tracestate) of the active span, or (None, None) outside a trace."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate")


def context_from_traceparent(traceparent: str | None, tracestate: str | None = None) -> Context:
    """An OTel context continuing the remote trace (or the current context if none)."""
    if not traceparent:
        return otel_context.get_current()
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return _PROPAGATOR.extract(carrier)
