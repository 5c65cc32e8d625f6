"""Starting many lead streams in one statement pair (imports write ~1000 per transaction).

:meth:`common.eventstore.EventStore.append` takes one stream at a time: a savepoint, an
insert and an outbox insert per stream, about 5 ms per lead, which made a 100k-row import
take many minutes. This is its bulk form for *new* streams (expected version 0): one
multi-row insert into ``event_store`` and one into ``outbox``, same rows, same
transaction, same envelopes (:func:`common.events.build_envelope`).

TEMPORARY: it belongs in libs/common as ``EventStore.append_many`` (requested in the leads
report); when that exists, call it and delete this module.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import event_store, outbox, utcnow
from common.events import EventPayload, build_envelope
from common.eventstore import EventStore
from common.topics import physical_name


async def start_streams(session: AsyncSession, store: EventStore, *, tenant_id: str,
                        first_events: Sequence[tuple[str, EventPayload]]) -> None:
    """Append each ``(stream_id, payload)`` as version 1 of a new stream, and queue it for
    publication. A stream that already exists fails the whole insert (IntegrityError)."""
    if not first_events:
        return
    envelopes = [build_envelope(p, tenant_id=tenant_id, source=store.source, subject=stream_id)
                 for stream_id, p in first_events]
    now = utcnow()
    await session.execute(insert(event_store), [
        {"tenant_id": tenant_id, "stream_id": stream_id, "version": 1, "event_id": env.id,
         "event_type": env.type, "data": env.data, "recorded_at": now}
        for (stream_id, _), env in zip(first_events, envelopes, strict=True)
    ])
    rows = []
    for (_, payload), env in zip(first_events, envelopes, strict=True):
        key, value, headers = env.to_kafka()
        rows.append({"event_id": env.id, "tenant_id": tenant_id,
                     "topic": physical_name(payload.topic, store.outbox.topic_prefix),
                     "key": key, "value": value,
                     "headers": [[n, v.decode("utf-8", "replace")] for n, v in headers],
                     "created_at": now})
    await session.execute(insert(outbox), rows)
