"""National registry tables: imported copies (metadata of the ``.npy`` files) and import jobs.

Registries are platform data imported by an operator, the same for every tenant: these
two tables have no ``tenant_id`` (the only compliance tables without one). The numbers
themselves live in ``<registry_dir>/<name>/<copy_id>.npy`` (sorted distinct E.164 digit
integers, ``uint64``); ``registry_copies`` is their metadata, and the copy in force for a
name is its row with the latest ``imported_at``. Older rows stay as history (which copy a
past decision used); their files are deleted once two newer copies exist.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from common.db import UTCDateTime
from compliance.adapters.db import decisions, metadata

registry_copies = Table(
    "registry_copies",
    metadata,
    Column("copy_id", String(36), primary_key=True),
    Column("name", String(32), nullable=False),
    Column("version", String(100), nullable=False),
    Column("downloaded_at", UTCDateTime, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("job_id", String(36), nullable=False),
)
Index("ix_registry_copies_name", registry_copies.c.name, registry_copies.c.imported_at)

# The audit export's keyset: a tenant's decisions in time order (``GET /v1/decisions/export``).
Index("ix_decisions_time", decisions.c.tenant_id, decisions.c.decided_at, decisions.c.decision_id)

registry_imports = Table(
    "registry_imports",
    metadata,
    Column("job_id", String(36), primary_key=True),
    Column("name", String(32), nullable=False),
    Column("version", String(100), nullable=False),
    Column("downloaded_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("lines_read", BigInteger, nullable=False),
    Column("numbers", BigInteger, nullable=False),
    Column("error", Text, nullable=True),
    Column("error_line", Integer, nullable=True),
    Column("copy_id", String(36), nullable=True),
    Column("requested_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
)
