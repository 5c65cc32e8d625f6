"""Facts from other services' events (the ``compliance-facts`` consumer).

* ``campaigns``: ``campaign.state_changed`` → ``campaign_facts`` (caller ID, product,
  consent requirement), unless the row holds a newer event (``changed_at``); ``created``
  and ``running`` publish the abandon budget (when its limits change).
* ``calls``: ``call.dialed`` / ``answered`` / ``abandoned`` / ``ended`` → one
  ``call_attempts`` row per call. Call events carry the lead, not the number: it is the
  number of the lead's latest decision made before the event (the dialer only dials
  screened leads; a lead re-screened later with another number keeps the dialed one).
* ``agents``: a refusal disposition → ``refusals`` (see :func:`is_refusal`).

The runner already skips events it has processed; the writes also tolerate replays
(attempt outcomes merge by rank, refusals insert once).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from common.clock import Clock
from common.consumer import ConsumedEvent
from common.events.catalog import (
    CallAbandonedV1,
    CallAnsweredV1,
    CallDialedV1,
    CallEndedV1,
    CampaignStateChangedV1,
    DispositionSubmittedV1,
)
from compliance.adapters.db import decisions
from compliance.adapters.facts_tables import (
    call_attempts,
    campaign_facts,
    dialect_insert,
    refusals,
)
from compliance.app.budget import BudgetKeeper
from compliance.app.dispositions import UnknownLeadNumber

LeadKey = tuple[str, str]
"""(tenant_id, lead_id)."""
LeadAt = tuple[str, str, datetime]
"""(tenant_id, lead_id, instant of a call or disposition event)."""
CallEvent = CallDialedV1 | CallAnsweredV1 | CallAbandonedV1 | CallEndedV1

# The more telling outcome wins when a call's events disagree or replay: abandoned and
# machine drive the UK redial rules, so they are never overwritten (fail closed).
_RANK = {None: 0, "no_answer": 1, "busy": 1, "failed": 1, "answered": 2, "machine": 3,
         "abandoned": 4}
# call.ended outcomes → attempt outcomes. ``blocked`` (stopped by the dialer's last-mile
# check after being dialed) still counts as an attempt: counting more is stricter.
# A decision counts as made before an event up to this much clock skew between the
# dialer/agent hosts (event times) and compliance (decided_at).
_CLOCK_SKEW = timedelta(seconds=30)
# The bulk number query looks this far back before the earliest event of a poll (a dial
# follows its clearance within clearance_max_s); older decisions are looked up one by one.
_NUMBER_LOOKBACK = timedelta(days=1)
_ENDED = {"completed": "answered", "abandoned": "abandoned", "machine": "machine",
          "no_answer": "no_answer", "busy": "busy", "failed": "failed", "blocked": "failed"}


def is_refusal(payload: DispositionSubmittedV1, refusal_dispositions: Collection[str]) -> bool:
    """A disposition is a refusal of the campaign's product when its category is ``dnc``
    (the person asked never to be called: a refusal too, and it outlives a DNC removal) or
    its name is one of ``refusal_dispositions`` (``not_interested``, ``refused`` ...)."""
    return payload.category == "dnc" or payload.disposition in refusal_dispositions


def merge_outcome(current: str | None, new: str | None) -> str | None:
    """The outcome of a call given what is stored and what an event says (by rank)."""
    return new if _RANK[new] > _RANK[current] else current


@dataclass
class _CallPatch:
    lead_id: str
    campaign_id: str
    at: datetime
    outcome: str | None
    phone_e164: str


class FactsRecorder:
    """Batch handler of the ``campaigns``, ``calls`` and ``agents`` topics."""

    def __init__(self, budgets: BudgetKeeper, refusal_dispositions: Collection[str],
                 clock: Clock) -> None:
        self._budgets = budgets
        self._clock = clock
        self._refusal_dispositions = frozenset(refusal_dispositions)

    async def on_events(self, session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
        """Record the facts of one poll; other event types are ignored."""
        typed = [(ev.envelope.tenantid, ev.envelope.time, ev.payload()) for ev in events]
        for tenant, at, p in typed:
            if isinstance(p, CampaignStateChangedV1):
                await self._campaign(session, tenant, at, p)
        calls = [(t, p) for t, _, p in typed
                 if isinstance(p, CallEvent)]
        refused = [(t, p) for t, _, p in typed if isinstance(p, DispositionSubmittedV1)
                   and is_refusal(p, self._refusal_dispositions)]
        numbers = await lead_numbers(session, {(t, p.lead_id, p.at) for t, p in [*calls, *refused]})
        await self._calls(session, calls, numbers)
        await self._refusals(session, refused, numbers)

    async def _campaign(self, session: AsyncSession, tenant: str, at: datetime,
                        p: CampaignStateChangedV1) -> None:
        values = {"tenant_id": tenant, "campaign_id": p.campaign_id, "state": p.state,
                  "caller_id": p.caller_id, "product": p.product,
                  "requires_consent": p.requires_consent, "changed_at": at}
        stmt = dialect_insert(session, campaign_facts).values(**values)
        # An older event (redelivered, or from a lagging producer) never overwrites a
        # newer one; the same instant: the later in partition order wins.
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["tenant_id", "campaign_id"],
            set_={k: stmt.excluded[k] for k in values if k not in ("tenant_id", "campaign_id")},
            where=campaign_facts.c.changed_at <= stmt.excluded.changed_at))
        if p.state in ("created", "running"):
            # Stamped with this service's clock, as screening's budgets are: the dialer
            # keeps the budget with the latest ``at``.
            await self._budgets.on_campaign_started(session, tenant, p.campaign_id,
                                                    self._clock.now())

    async def _calls(self, session: AsyncSession, calls: list[tuple[str, CallEvent]],
                     numbers: dict[LeadAt, str]) -> None:
        if not calls:
            return
        t = call_attempts
        keys = {(tenant, p.call_id) for tenant, p in calls}
        stored = {(r.tenant_id, r.call_id): _CallPatch(r.lead_id, r.campaign_id, r.at, r.outcome,
                                                       r.phone_e164)
                  for r in await session.execute(
                      select(t.c.tenant_id, t.c.call_id, t.c.lead_id, t.c.campaign_id, t.c.at,
                             t.c.outcome, t.c.phone_e164)
                      .where(t.c.tenant_id.in_({k[0] for k in keys}),
                             t.c.call_id.in_({k[1] for k in keys})))}
        patches: dict[tuple[str, str], _CallPatch] = {}
        for tenant, p in calls:
            key = (tenant, p.call_id)
            old = patches.get(key) or stored.get(key)
            # The dial instant starts the attempt; a call first seen by a later event
            # starts at that event (later: counts longer, the stricter side).
            at = p.at if isinstance(p, CallDialedV1) or old is None else min(old.at, p.at)
            # The number dialed: the stored row's, else the one decided before this event.
            phone = old.phone_e164 if old else numbers[(tenant, p.lead_id, p.at)]
            patches[key] = _CallPatch(p.lead_id, p.campaign_id, at,
                                      merge_outcome(old.outcome if old else None, _outcome(p)),
                                      phone)
        rows = [{"tenant_id": tenant, "call_id": call_id, "lead_id": c.lead_id,
                 "campaign_id": c.campaign_id, "phone_e164": c.phone_e164,
                 "at": c.at, "outcome": c.outcome}
                for (tenant, call_id), c in sorted(patches.items())]
        stmt = dialect_insert(session, t)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["tenant_id", "call_id"],
            set_={"at": stmt.excluded.at, "outcome": stmt.excluded.outcome}), rows)

    @staticmethod
    async def _refusals(session: AsyncSession, refused: list[tuple[str, DispositionSubmittedV1]],
                        numbers: dict[LeadAt, str]) -> None:
        if not refused:
            return
        stmt = dialect_insert(session, refusals).on_conflict_do_nothing(
            index_elements=["tenant_id", "call_id"])
        await session.execute(stmt, [
            {"tenant_id": tenant, "call_id": p.call_id, "lead_id": p.lead_id,
             "campaign_id": p.campaign_id, "phone_e164": numbers[(tenant, p.lead_id, p.at)],
             "disposition": p.disposition, "at": p.at}
            for tenant, p in refused])


def _outcome(p: CallEvent) -> str | None:
    if isinstance(p, CallAnsweredV1):
        return "machine" if p.answered_by == "machine" else "answered"
    if isinstance(p, CallAbandonedV1):
        return "abandoned"
    if isinstance(p, CallEndedV1):
        return _ENDED[p.outcome]
    return None


async def lead_numbers(session: AsyncSession, events: set[LeadAt]) -> dict[LeadAt, str]:
    """The number each (tenant, lead, instant) was dialed on: that of the lead's latest
    decision with ``decided_at <= instant`` (+ ``_CLOCK_SKEW``); if every decision is
    later, the earliest one. One bounded query (``ix_decisions_lead``) for the poll, one
    per event it does not resolve. Raises :class:`UnknownLeadNumber` for a lead this
    service never screened (the record is retried, then dead-lettered for an operator: a
    lost attempt would loosen the caps)."""
    if not events:
        return {}
    d = decisions
    leads = {(t, lead) for t, lead, _ in events}
    history: dict[LeadKey, list[tuple[datetime, str]]] = {}
    for t, lead, at, phone in await session.execute(
            select(d.c.tenant_id, d.c.lead_id, d.c.decided_at, d.c.phone_e164)
            .where(d.c.tenant_id.in_({t for t, _ in leads}),
                   d.c.lead_id.in_({lead for _, lead in leads}),
                   d.c.decided_at >= min(at for *_, at in events) - _NUMBER_LOOKBACK,
                   d.c.decided_at <= max(at for *_, at in events) + _CLOCK_SKEW)
            .order_by(d.c.decided_at)):
        if (t, lead) in leads:
            history.setdefault((t, lead), []).append((at, phone))
    found: dict[LeadAt, str] = {}
    for t, lead, at in sorted(events):
        before = [phone for decided, phone in history.get((t, lead), ())
                  if decided <= at + _CLOCK_SKEW]
        number = before[-1] if before else await _number_outside(session, t, lead, at)
        if number is None:
            raise UnknownLeadNumber(f"no screened number for lead {lead} (tenant {t}): its "
                                    "call facts cannot be recorded")
        found[(t, lead, at)] = number
    return found


async def _number_outside(session: AsyncSession, tenant_id: str, lead_id: str, at: datetime
                          ) -> str | None:
    """The number of the lead's latest decision before ``at`` outside the bulk window,
    else of its earliest decision after it; None: never screened."""
    d = decisions
    of_lead = select(d.c.phone_e164).where(d.c.tenant_id == tenant_id, d.c.lead_id == lead_id)
    phone = (await session.execute(
        of_lead.where(d.c.decided_at <= at + _CLOCK_SKEW)
        .order_by(d.c.decided_at.desc()).limit(1))).scalar()
    if phone is None:
        phone = (await session.execute(of_lead.order_by(d.c.decided_at).limit(1))).scalar()
    return phone
