"""In-process DNC lookups: one :class:`DncIndex` per tenant list, kept current by version.

Built from ``dnc_entries`` at start-up; before each screening batch one query reads the
versions of the batch's tenant lists, and a list that moved on is caught up by reading
only the rows changed since the version held (``ix_dnc_entries_changes``). Writers may be
other processes (API replicas), so the table's version, not an in-process call, is what
keeps the index current. Tenant lists are small in the walking skeleton; national
registries (hundreds of millions of numbers, imported files) come in the next slice with
the same index type.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from compliance.adapters.db import dnc_entries, dnc_lists
from compliance.app.dnc import TENANT_LIST
from compliance.domain.decision import DncHit
from compliance.domain.dnc_index import DncIndex

_COMPACT_AT = 4096  # pending deltas folded into the buckets beyond this


@dataclass
class _List:
    index: DncIndex
    version: int


class DncDirectory:
    """The tenant DNC lists as indexes, keyed by (tenant, list)."""

    def __init__(self) -> None:
        self._tenants: dict[str, dict[str, _List]] = {}

    async def load_all(self, session: AsyncSession) -> None:
        """Rebuild every list from the table (start-up). Versions are read first, so a
        change committed meanwhile is re-applied by the next :meth:`refresh`."""
        versions = {(t, lst): v for t, lst, v in await session.execute(
            select(dnc_lists.c.tenant_id, dnc_lists.c.list_id, dnc_lists.c.version))}
        numbers: dict[tuple[str, str], list[str]] = defaultdict(list)
        rows = await session.stream(
            select(dnc_entries.c.tenant_id, dnc_entries.c.list_id, dnc_entries.c.phone_e164)
            .where(dnc_entries.c.removed_at.is_(None)))
        async for tenant, list_id, phone in rows:
            numbers[(tenant, list_id)].append(phone)
        self._tenants = {}
        for (tenant, list_id), version in versions.items():
            index = DncIndex.from_e164(numbers.get((tenant, list_id), []), str(version))
            self._tenants.setdefault(tenant, {})[list_id] = _List(index, version)

    async def refresh(self, session: AsyncSession, tenants: Iterable[str]) -> None:
        """Catch the lists of ``tenants`` up with the table (one query when nothing moved)."""
        tenant_ids = sorted(set(tenants))
        if not tenant_ids:
            return
        moved = [
            (t, lst, v) for t, lst, v in await session.execute(
                select(dnc_lists.c.tenant_id, dnc_lists.c.list_id, dnc_lists.c.version)
                .where(dnc_lists.c.tenant_id.in_(tenant_ids)))
            if self._version(t, lst) != v
        ]
        if not moved:
            return
        changed_since = or_(*(
            and_(dnc_entries.c.tenant_id == t, dnc_entries.c.list_id == lst,
                 dnc_entries.c.version > self._version(t, lst))
            for t, lst, _ in moved))
        changes = await session.execute(
            select(dnc_entries.c.tenant_id, dnc_entries.c.list_id, dnc_entries.c.phone_e164,
                   dnc_entries.c.removed_at).where(changed_since))
        for tenant, list_id, phone, removed_at in changes:
            index = self._list(tenant, list_id).index
            (index.add if removed_at is None else index.remove)(phone)
        for tenant, list_id, version in moved:
            entry = self._list(tenant, list_id)
            entry.version, entry.index.version = version, str(version)
            if entry.index.pending > _COMPACT_AT:
                entry.index.compact()

    def hits(self, tenant_id: str, phone_e164: str) -> list[DncHit]:
        """The tenant's lists that hold ``phone_e164`` (with the list version)."""
        return [
            DncHit(list_name=list_id, kind="tenant", version=str(entry.version))
            for list_id, entry in sorted(self._tenants.get(tenant_id, {}).items())
            if phone_e164 in entry.index
        ]

    def consulted(self, tenant_id: str) -> list[dict[str, Any]]:
        """The lists a screening of ``tenant_id`` consults, with their versions."""
        held = {lst: e.version for lst, e in self._tenants.get(tenant_id, {}).items()}
        held.setdefault(TENANT_LIST, 0)
        return [{"list_id": lst, "kind": "tenant", "version": v} for lst, v in sorted(held.items())]

    def _version(self, tenant_id: str, list_id: str) -> int:
        entry = self._tenants.get(tenant_id, {}).get(list_id)
        return entry.version if entry is not None else 0

    def _list(self, tenant_id: str, list_id: str) -> _List:
        lists = self._tenants.setdefault(tenant_id, {})
        if list_id not in lists:
            lists[list_id] = _List(DncIndex.from_e164([], "0"), 0)
        return lists[list_id]
