"""The configurable vocabularies: defaults, environment overrides, and what is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.domain.vocabulary import DEFAULT_DISPOSITION_CATEGORIES, DEFAULT_PAUSE_REASONS
from agent.settings import AgentSettings


def test_defaults_are_the_domain_vocabulary() -> None:
    vocabulary = AgentSettings().vocabulary()
    assert vocabulary.pause_reasons == DEFAULT_PAUSE_REASONS
    assert vocabulary.disposition_categories == DEFAULT_DISPOSITION_CATEGORIES


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KADEN_PAUSE_REASONS", '["break", "bio", "break"]')
    monkeypatch.setenv("KADEN_DISPOSITION_CATEGORIES", '{"sale": "success", "later": "callback"}')
    vocabulary = AgentSettings().vocabulary()
    assert vocabulary.pause_reasons == ("break", "bio")
    assert vocabulary.disposition_categories == {"sale": "success", "later": "callback"}


@pytest.mark.parametrize(("field", "value", "error"), [
    ("pause_reasons", [], "at least one pause reason"),
    ("pause_reasons", ["Lunch Break"], "snake_case"),
    ("pause_reasons", ["break", "logged_in"], "set by the system"),
    ("disposition_categories", {"sale": "great"}, "'success', 'contact', 'callback'"),
    ("disposition_categories", {}, "at least one disposition"),
])
def test_invalid_vocabularies_are_refused_at_start_up(field: str, value: object,
                                                      error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        AgentSettings(**{field: value})
