"""Prometheus metrics shared by the services.

Labels are bounded and carry no personal data: service, route *template*, topic,
consumer group, partition, and (in service metrics) tenant and campaign ids only.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

HTTP_REQUESTS = Counter(
    "kaden_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "kaden_http_request_duration_seconds",
    "HTTP request duration",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge("kaden_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_PUBLISHED = Counter(
    "kaden_outbox_published_total", "Outbox rows published to Kafka", ["service", "topic"]
)
OUTBOX_PUBLISH_DELAY = Histogram(
    "kaden_outbox_publish_delay_seconds",
    "Time from outbox insert to Kafka acknowledgement",
    ["service"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CONSUMER_EVENTS = Counter(
    "kaden_consumer_events_total",
    "Events seen by a consumer group, by result (processed, duplicate, dead_lettered)",
    ["group", "topic", "result"],
)
CONSUMER_LAG = Gauge(
    "kaden_consumer_lag", "Records behind the partition end", ["group", "topic", "partition"]
)
CONSUMER_EVENT_AGE = Histogram(
    "kaden_consumer_event_age_seconds",
    "Age of an event (now - ce_time) when its handler committed",
    ["group", "topic"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def render_latest() -> tuple[bytes, str]:
    """The default registry in Prometheus text format, with its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
