"""The configurable vocabularies of agent work: pause reasons and call dispositions.

Both are data, so that a deployment can change them (``KADEN_PAUSE_REASONS``,
``KADEN_DISPOSITION_CATEGORIES``) without code changes. The category of a disposition is
what the rest of the platform acts on: leads closes a lead on ``success``, schedules a
callback on ``callback``, compliance adds the number to the tenant DNC list on ``dnc``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

DispositionCategory = Literal["success", "contact", "callback", "dnc", "other"]
"""The categories of ``DispositionSubmittedV1.category`` (the event contract)."""

DEFAULT_PAUSE_REASONS: tuple[str, ...] = (
    "break", "lunch", "training", "meeting", "coaching", "technical", "other",
)
"""Reasons an agent may give to pause (``POST /pause``)."""

LOGGED_IN_REASON = "logged_in"
"""Pause reason of a fresh login that did not ask to be ready at once (system reason)."""

AFTER_CALL_REASON = "after_call"
"""Pause reason after a disposition with ``then: "pause"`` and no reason (system reason)."""

DEFAULT_DISPOSITION_CATEGORIES: Mapping[str, DispositionCategory] = {
    # the called party agreed to something: the lead's goal is reached
    "sale": "success",
    "appointment": "success",
    "promise_to_pay": "success",
    # the right party was reached and declined
    "not_interested": "contact",
    # not a right-party contact: nothing was learned about the lead's intent
    "wrong_party": "other",
    "no_contact": "other",
    # the lead asked to be called again at a given instant (callback_at)
    "callback": "callback",
    # the lead asked never to be called again: goes to the tenant DNC list
    "do_not_call": "dnc",
    "other": "other",
}
"""Disposition name -> category. ``callback_at`` is required iff the category is ``callback``."""


@dataclass(frozen=True)
class Vocabulary:
    """The pause reasons and dispositions (with their categories) agents may use."""

    pause_reasons: tuple[str, ...] = DEFAULT_PAUSE_REASONS
    disposition_categories: Mapping[str, DispositionCategory] = field(
        default_factory=lambda: dict(DEFAULT_DISPOSITION_CATEGORIES))
