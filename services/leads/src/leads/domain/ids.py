"""Identifiers of lists, leads and import jobs: ``<kind>-<uuid>``.

The uuid has the UUIDv7 layout (RFC 9562: 48-bit Unix time in milliseconds, then random
bits), so ids sort by creation time: keyset pages of a list come in import order (to the
millisecond) and index inserts stay at the right edge of the B-tree.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

_MS_MASK = (1 << 48) - 1


def new_id(kind: str, now: datetime) -> str:
    """A fresh id such as ``lead-0190c3e2-…`` created at ``now`` (aware UTC)."""
    millis = int(now.timestamp() * 1000) & _MS_MASK
    value = (millis << 80) | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return f"{kind}-{uuid.UUID(int=value)}"
