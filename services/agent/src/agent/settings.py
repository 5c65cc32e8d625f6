"""Settings of the agent service: the shared ones plus the agent-work vocabularies.

``KADEN_PAUSE_REASONS`` (JSON list) and ``KADEN_DISPOSITION_CATEGORIES`` (JSON object:
disposition name -> success | contact | callback | dnc | other) override the defaults.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from agent.domain.vocabulary import (
    AFTER_CALL_REASON,
    DEFAULT_DISPOSITION_CATEGORIES,
    DEFAULT_PAUSE_REASONS,
    LOGGED_IN_REASON,
    DispositionCategory,
    Vocabulary,
)
from common.settings import ServiceSettings

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def _check_names(names: list[str], what: str) -> None:
    if not names:
        raise ValueError(f"at least one {what} is needed")
    bad = [n for n in names if not _NAME.match(n)]
    if bad:
        raise ValueError(f"{what} names must be snake_case (a-z, 0-9, _; 64 max): {bad}")


class AgentSettings(ServiceSettings):
    pause_reasons: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PAUSE_REASONS),
        description="reasons an agent may give to pause")
    disposition_categories: dict[str, DispositionCategory] = Field(
        default_factory=lambda: dict(DEFAULT_DISPOSITION_CATEGORIES),
        description="disposition name -> category (callback_at required iff 'callback')")

    @field_validator("pause_reasons")
    @classmethod
    def _reasons(cls, v: list[str]) -> list[str]:
        _check_names(v, "pause reason")
        system = {LOGGED_IN_REASON, AFTER_CALL_REASON} & set(v)
        if system:
            raise ValueError(f"{sorted(system)} are set by the system, not chosen by agents")
        return list(dict.fromkeys(v))

    @field_validator("disposition_categories")
    @classmethod
    def _dispositions(cls, v: dict[str, DispositionCategory]) -> dict[str, DispositionCategory]:
        _check_names(list(v), "disposition")
        return v

    def vocabulary(self) -> Vocabulary:
        """The configured pause reasons and dispositions as a domain value."""
        return Vocabulary(tuple(self.pause_reasons), dict(self.disposition_categories))
