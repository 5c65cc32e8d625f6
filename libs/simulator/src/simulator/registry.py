"""A synthetic national DNC registry copy, imported through the compliance API.

The demo and the end-to-end tests use it instead of waiving the registry: compliance
then screens every US lead against a real, fresh copy (``dnc.national`` blocks for the
numbers on it), exactly as in production, where the operator imports the FTC download.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from datetime import datetime

import httpx

from common.auth import OPERATOR_SCOPE, issue_token

# Filler numbers come from area codes the demo's New York leads never use.
_SYNTHETIC_AREA_CODES = ("201", "305", "415", "512", "617", "702", "808", "971")


def registry_file(listed: Iterable[str], *, filler: int, seed: int = 1) -> bytes:
    """An FTC-style download (``AAA,NNNNNNN`` lines) of ``listed`` US E.164 numbers plus
    ``filler`` synthetic ones."""
    rng = random.Random(seed)
    lines = [f"{n[2:5]},{n[5:]}" for n in listed if n.startswith("+1") and len(n) == 12]
    lines += [f"{rng.choice(_SYNTHETIC_AREA_CODES)},{rng.randint(2, 9)}{rng.randint(0, 999_999):06d}"
              for _ in range(filler)]
    return ("\n".join(lines) + "\n").encode()


def operator_headers(jwt_secret: str) -> dict[str, str]:
    """A platform operator's bearer token (registry imports are operator-only)."""
    token = issue_token(jwt_secret, tenant_id="platform", subject="registry-import",
                        scopes=[OPERATOR_SCOPE])
    return {"Authorization": f"Bearer {token}"}


async def import_registry(compliance: httpx.AsyncClient, headers: dict[str, str], *,
                          name: str, content: bytes, version: str, downloaded_at: datetime,
                          timeout_s: float = 120.0) -> dict[str, object]:
    """Upload a registry file and wait for its import job; the finished job, or RuntimeError
    with the job's error."""
    r = await compliance.post(f"/v1/registries/{name}/imports", content=content,
                              params={"version": version, "downloaded_at": downloaded_at.isoformat()},
                              headers={**headers, "Content-Type": "text/plain"})
    if r.status_code != 202:
        raise RuntimeError(f"registry import refused: {r.status_code} {r.text}")
    status_url = r.json()["status_url"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        job: dict[str, object] = (await compliance.get(status_url, headers=headers)).json()
        if job["state"] == "succeeded":
            return job
        if job["state"] == "failed":
            raise RuntimeError(f"registry import failed: {job.get('error')}")
        await asyncio.sleep(0.2)
    raise RuntimeError(f"registry import did not finish within {timeout_s:.0f} s")
