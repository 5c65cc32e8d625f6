"""The event contract: every stored example of every version still parses; generated
schemas and docs/events.md are up to date with the models."""

from __future__ import annotations

import json

import pytest

from common.events.catalog import registered_types
from common.events.schemas import EXAMPLES_DIR, expected_files, main
from common.topics import TOPICS

EXAMPLES = sorted(EXAMPLES_DIR.glob("*/*.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stored_example_still_parses(path) -> None:
    cls = registered_types()[path.parent.name]
    cls.model_validate(json.loads(path.read_text()))


def test_every_event_type_has_an_example_and_every_example_a_type() -> None:
    with_examples = {p.parent.name for p in EXAMPLES}
    assert with_examples == set(registered_types())


def test_every_event_travels_on_a_registered_topic_with_a_versioned_type() -> None:
    for event_type, cls in registered_types().items():
        assert cls.topic in TOPICS
        assert event_type.startswith("callcenter.")
        assert event_type.rsplit(".", 1)[1].startswith("v")


def test_generated_schemas_and_catalog_are_current() -> None:
    stale = [str(p) for p, text in expected_files().items() if not p.exists() or p.read_text() != text]
    assert not stale, f"run `python -m common.events.schemas`; stale: {stale}"
    assert main(["--check"]) == 0
