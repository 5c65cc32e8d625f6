"""Dependencies shared by the leads routers: callers' scopes and the service settings."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends

from common.app import RuntimeDep
from common.auth import Principal, require_scopes
from leads.settings import LeadsSettings

Reader = Annotated[Principal, Depends(require_scopes("leads:read"))]
Writer = Annotated[Principal, Depends(require_scopes("leads:write"))]


def _settings(runtime: RuntimeDep) -> LeadsSettings:
    return cast(LeadsSettings, runtime.settings)


SettingsDep = Annotated[LeadsSettings, Depends(_settings)]
