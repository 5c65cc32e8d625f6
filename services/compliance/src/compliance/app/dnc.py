"""Tenant DNC list commands: add, remove, list (the table is the source of truth).

Every change bumps the list's version (``dnc_lists``; the row lock also serialises
writers of one list), stamps the entry row with it, and appends ``dnc.added`` /
``dnc.removed`` to the entry's stream in the same transaction; the dialer's last-mile
check and this service's in-memory indexes follow from there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from common.errors import Conflict, NotFound, Unprocessable
from common.events.catalog import DncEntryAddedV1, DncEntryRemovedV1, EventPayload
from common.eventstore import ConcurrencyError, EventStore
from common.pii import mask_phone
from compliance.adapters.db import dnc_entries, dnc_lists

TENANT_LIST = "tenant"
_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "invalid country calling code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
_STREAM_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-4f0e-9c57-2b1e5d7a9c10")


@dataclass(frozen=True)
class DncEntry:
    """An active entry of a DNC list."""

    phone_e164: str
    list_id: str
    source: str
    added_at: datetime


def normalize_phone(phone: str, country: str) -> str:
    """E.164 form of ``phone`` (national digits are read in ``country``, ISO alpha-2).

    Raises :class:`Unprocessable` with a masked, precise message.
    """
    masked = mask_phone(phone)
    region = country.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise Unprocessable(f"country {country!r} is not an ISO 3166 region with a numbering plan")
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException as exc:
        why = _PARSE_ERRORS.get(exc.error_type, "unparseable")
        raise Unprocessable(f"phone {masked} cannot be parsed as a {region} number: {why}") from None
    if not phonenumbers.is_valid_number(number):
        raise Unprocessable(f"phone {masked} is not a valid number (read as {region})")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def require_e164(phone: str) -> str:
    """``phone`` if it is already in valid E.164 form (path parameters), else 422."""
    if not phone.startswith("+"):
        raise Unprocessable(f"phone {mask_phone(phone)} must be in E.164 form (+ and digits)")
    e164 = normalize_phone(phone, "US")
    if e164 != phone:
        raise Unprocessable(f"phone {mask_phone(phone)} is not in canonical E.164 form")
    return e164


def entry_key(tenant_id: str, list_id: str, phone_e164: str) -> str:
    """The compacted-topic key of an entry: ``<tenant>/<list>:<E.164>`` (catalog contract).
    The tenant is part of it: compaction keeps one record per key, and two tenants may
    list the same number."""
    return f"{tenant_id}/{list_id}:{phone_e164}"


def entry_stream_id(list_id: str, phone_e164: str) -> str:
    """``dnc-<uuid5>``: a stable stream per (list, number) that does not spell the number
    (streams are tenant-scoped by the event store)."""
    return f"dnc-{uuid.uuid5(_STREAM_NAMESPACE, f'{list_id}:{phone_e164}')}"


async def add_entry(
    session: AsyncSession, store: EventStore, *, tenant_id: str, phone_e164: str,
    source: str, now: datetime, list_id: str = TENANT_LIST,
) -> tuple[DncEntry, bool]:
    """Put a number on a list; ``(entry, created)``. Adding an active entry changes nothing."""
    existing = await _active(session, tenant_id, list_id, phone_e164)
    if existing is not None:
        return existing, False
    version = await _bump_list(session, tenant_id, list_id, now)
    values = {"tenant_id": tenant_id, "list_id": list_id, "phone_e164": phone_e164,
              "source": source, "added_at": now, "removed_at": None, "version": version}
    upsert = _insert(session, dnc_entries).values(**values)
    await session.execute(upsert.on_conflict_do_update(
        index_elements=["tenant_id", "list_id", "phone_e164"],
        set_={k: upsert.excluded[k] for k in ("source", "added_at", "removed_at", "version")}))
    await _append(session, store, tenant_id, list_id, phone_e164, DncEntryAddedV1(
        entry_key=entry_key(tenant_id, list_id, phone_e164), list_id=list_id, phone_e164=phone_e164,
        source=source, added_at=now))
    return DncEntry(phone_e164, list_id, source, now), True


async def remove_entry(
    session: AsyncSession, store: EventStore, *, tenant_id: str, phone_e164: str,
    now: datetime, list_id: str = TENANT_LIST,
) -> None:
    """Take a number off a list; :class:`NotFound` if it is not on it."""
    if await _active(session, tenant_id, list_id, phone_e164) is None:
        raise NotFound(f"phone {mask_phone(phone_e164)} is not on DNC list {list_id!r}")
    version = await _bump_list(session, tenant_id, list_id, now)
    await session.execute(
        update(dnc_entries)
        .where(dnc_entries.c.tenant_id == tenant_id, dnc_entries.c.list_id == list_id,
               dnc_entries.c.phone_e164 == phone_e164)
        .values(removed_at=now, version=version))
    await _append(session, store, tenant_id, list_id, phone_e164, DncEntryRemovedV1(
        entry_key=entry_key(tenant_id, list_id, phone_e164), list_id=list_id, phone_e164=phone_e164,
        removed_at=now))


async def list_entries(
    session: AsyncSession, *, tenant_id: str, limit: int, after: str | None,
    list_id: str = TENANT_LIST,
) -> list[DncEntry]:
    """Active entries in number order after ``after`` (keyset pagination on the key)."""
    query = (select(dnc_entries.c.phone_e164, dnc_entries.c.list_id, dnc_entries.c.source,
                    dnc_entries.c.added_at)
             .where(dnc_entries.c.tenant_id == tenant_id, dnc_entries.c.list_id == list_id,
                    dnc_entries.c.removed_at.is_(None))
             .order_by(dnc_entries.c.phone_e164).limit(limit))
    if after is not None:
        query = query.where(dnc_entries.c.phone_e164 > after)
    return [DncEntry(*row) for row in await session.execute(query)]


async def _active(session: AsyncSession, tenant_id: str, list_id: str, phone: str) -> DncEntry | None:
    row = (await session.execute(
        select(dnc_entries.c.phone_e164, dnc_entries.c.list_id, dnc_entries.c.source,
               dnc_entries.c.added_at)
        .where(dnc_entries.c.tenant_id == tenant_id, dnc_entries.c.list_id == list_id,
               dnc_entries.c.phone_e164 == phone, dnc_entries.c.removed_at.is_(None)))).first()
    return DncEntry(*row) if row is not None else None


async def _bump_list(session: AsyncSession, tenant_id: str, list_id: str, now: datetime) -> int:
    """The list's next version (row-locked until commit: writers of one list queue)."""
    first = _insert(session, dnc_lists).values(
        tenant_id=tenant_id, list_id=list_id, version=1, updated_at=now)
    bump = first.on_conflict_do_update(
        index_elements=["tenant_id", "list_id"],
        set_={"version": dnc_lists.c.version + 1, "updated_at": now},
    ).returning(dnc_lists.c.version)
    return int((await session.execute(bump)).scalar_one())


async def _append(session: AsyncSession, store: EventStore, tenant_id: str, list_id: str,
                  phone: str, payload: EventPayload) -> None:
    stream = entry_stream_id(list_id, phone)
    version = await store.current_version(session, tenant_id=tenant_id, stream_id=stream)
    try:
        await store.append(session, tenant_id=tenant_id, stream_id=stream,
                           expected_version=version, payloads=[payload])
    except ConcurrencyError:
        raise Conflict("a concurrent change to this DNC entry won; retry") from None


def _insert(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT (both support ON CONFLICT ... DO UPDATE ... RETURNING)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
