"""Screening of due leads (``lead.due`` → ``compliance.decided``), fail closed.

For each ``LeadDueV1`` of a poll: build the request (number, the lead's candidate zones,
the campaign's caller ID, product and consent requirement) and the facts (tenant DNC hits
from the in-process index; attempts, refusals and consents loaded in bulk for the poll,
see ``lead_facts``), take
the effective policy from a cache keyed by (jurisdictions, tenant, campaign), evaluate at
``clock.now()``, cap a clearance's ``valid_until``, then store every decision of the poll
in bulk: an event in the lead's ``decisions-<lead_id>`` stream and a ``decisions`` row.
An error while deciding one lead blocks that lead with the reason; it never clears it
and never fails the batch. When the facts consumer was last caught up more than
``facts_max_lag_s`` ago (``facts_watermark``), every lead is blocked ``facts.stale`` until
``facts_stale_retry_s`` later: attempts, refusals and consents may be missing. A lead
whose campaign compliance has not heard of yet is blocked ``campaign.unknown`` with
``earliest_callable_at`` = now + ``unknown_campaign_retry_s``, doubled for each
consecutive ``campaign.unknown`` decision of the lead (the previous delay, read from its
latest decision), capped at ``unknown_campaign_retry_max_s``; so the leads service re-dues
it shortly, then less and less often. Finally the jurisdictions the poll's campaigns dial
into widen their abandon-rate budgets (``budget``).
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from prometheus_client import Counter
from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from common.clock import Clock
from common.consumer import ConsumedEvent
from common.db import event_store
from common.events.catalog import ComplianceDecidedV1, DecisionReason, LeadDueV1
from common.eventstore import EventStore
from common.pii import mask_phone, mask_phones_in_text
from compliance.adapters.db import decisions
from compliance.app.budget import BudgetKeeper, CampaignKey
from compliance.app.dnc_directory import DncDirectory
from compliance.app.facts_watermark import FACTS_GROUP, caught_up_at
from compliance.app.lead_facts import LeadFacts, attempt_lookback, load_facts
from compliance.app.registries import NationalRegistries
from compliance.domain.decision import Decision, Reason, ScreeningFacts, ScreeningRequest
from compliance.domain.effective import EffectivePolicy
from compliance.domain.errors import (
    InvalidPhoneNumberError,
    UnknownJurisdictionError,
    UnknownTimeZoneError,
)
from compliance.domain.policy import PolicyCatalog
from compliance.domain.rules import evaluate
from compliance.domain.zones import CandidateZone, ZoneSource, locate
from compliance.settings import ComplianceSettings

log = logging.getLogger(__name__)

# lead.due zone sources → the domain's provenance vocabulary.
_ZONE_SOURCES: dict[str, ZoneSource] = {"number_prefix": "phone_prefix", "postal_code": "postal_code",
                 "region": "region", "explicit": "explicit"}
# Fail-closed rule ids for errors raised while deciding one lead.
_ERROR_RULES: dict[type[Exception], str] = {
    InvalidPhoneNumberError: "number.invalid",
    UnknownTimeZoneError: "zone.invalid",
    UnknownJurisdictionError: "jurisdiction.unknown",
}


RETRY_BLOCKS = Counter(
    "kaden_compliance_retry_blocks_total",
    "Recorded decisions blocked for a retry, by rule (campaign.unknown, facts.stale)", ["rule"])
_RETRY_RULES = ("campaign.unknown", "facts.stale")


def decision_stream_id(lead_id: str) -> str:
    """The stream of a lead's decisions."""
    return f"decisions-{lead_id}"


@dataclass(frozen=True)
class Screened:
    """One decision, ready to store: the event payload and the full record."""

    tenant_id: str
    event: ComplianceDecidedV1
    record: dict[str, Any]
    decided_at: datetime


class Screener:
    """Decides due leads and stores the decisions (the ``leads`` topic batch handler)."""

    def __init__(self, catalog: PolicyCatalog, directory: DncDirectory, store: EventStore,
                 clock: Clock, settings: ComplianceSettings,
                 registries: NationalRegistries | None = None) -> None:
        self._catalog = catalog
        self._registries = registries
        self._clock = clock
        self._directory = directory
        self._store = store
        self._settings = settings
        self._policy = lru_cache(maxsize=settings.policy_cache_size)(self._merge)
        self._budgets = BudgetKeeper(catalog, store)
        self._lookback = attempt_lookback(catalog)

    async def on_lead_events(self, session: AsyncSession, events: Sequence[ConsumedEvent]) -> None:
        """Screen every ``LeadDueV1`` of the poll at ``clock.now()``; other lead events are
        ignored."""
        dues = [(ev.envelope.tenantid, p) for ev in events
                if isinstance(p := ev.payload(), LeadDueV1)]
        if not dues:
            return
        now = self._clock.now()
        screened = await self.screen_many(session, dues, now)
        await self.store(session, screened)
        for s in screened:
            blocking = {r.rule_id for r in s.event.reasons} if s.event.outcome == "blocked" else ()
            for rule in _RETRY_RULES:
                if rule in blocking:
                    RETRY_BLOCKS.labels(rule).inc()
        seen: dict[CampaignKey, set[str]] = {}
        for s in screened:
            if s.record["policy_version"] != "none":
                seen.setdefault((s.tenant_id, s.event.campaign_id), set()).update(
                    s.record["jurisdictions"])
        await self._budgets.on_screened(session, seen, now)

    async def screen_many(self, session: AsyncSession, dues: Sequence[tuple[str, LeadDueV1]],
                          now: datetime, extras: Sequence[Mapping[str, Any]] | None = None
                          ) -> list[Screened]:
        """Decide ``(tenant, lead.due)`` pairs at ``now`` with every fact: prepares the
        in-process facts, loads attempts, refusals, consents and campaigns in bulk (four
        queries), the facts watermark (staleness against the clock, whatever ``now``) and
        the latest decision of leads whose campaign is unknown, then :meth:`screen` each
        with its ``extras[i]``. Stores nothing."""
        await self.prepare(session, dues)
        book = await load_facts(session, [(t, d.campaign_id, d.phone_e164) for t, d in dues],
                                now, self._lookback)
        group = f"{self._settings.kafka_topic_prefix}{FACTS_GROUP}"
        watermark = await caught_up_at(session, group)
        lag_s = math.inf if watermark is None else max(
            0.0, (self._clock.now() - watermark).total_seconds())
        leads = [replace(book.for_lead(t, d.campaign_id, d.phone_e164), facts_lag_s=lag_s)
                 for t, d in dues]
        retries = await _unknown_retries(
            session, {(t, d.lead_id) for (t, d), f in zip(dues, leads, strict=True)
                      if f.campaign is None})
        return [self.screen(t, d, now, extras[i] if extras else None,
                            replace(leads[i], unknown_retry_s=retries.get((t, d.lead_id))))
                for i, (t, d) in enumerate(dues)]

    async def prepare(self, session: AsyncSession, dues: Sequence[tuple[str, LeadDueV1]]) -> None:
        """Catch the facts held in process up with the tables before screening ``dues``
        (``lead.due`` polls and batch checks alike)."""
        await self._directory.refresh(session, {tenant for tenant, _ in dues})
        if self._registries is not None:
            await self._registries.refresh(session, wait=False)

    def screen(self, tenant_id: str, due: LeadDueV1, now: datetime,
               extra: Mapping[str, Any] | None = None, facts: LeadFacts | None = None
               ) -> Screened:
        """The decision for one due lead (never raises: errors block, fail closed).
        ``extra``: request fields a ``lead.due`` cannot carry (the batch check's
        ``address``, ``explicit_zone``, ``lead_zones=None``). ``facts``: from
        :meth:`screen_many`; without them the lead's campaign is unknown, so it is
        blocked ``campaign.unknown`` until ``unknown_campaign_retry_s`` later."""
        lists = self._directory.consulted(tenant_id)
        facts = facts or LeadFacts(tenant_id, due.phone_e164, due.campaign_id)
        try:
            if facts.facts_lag_s > self._settings.facts_max_lag_s:
                decision = self._facts_stale(tenant_id, due, now, facts.facts_lag_s)
            else:
                decision = self._decide(tenant_id, due, now, extra or {}, facts)
        except Exception as exc:
            decision = self._failed_closed(tenant_id, due, now, exc)
        if decision.outcome == "cleared":
            decision = self._cap_clearance(decision, now)
        reasons = decision.blocking if decision.outcome == "blocked" else decision.reasons
        decision_id = str(uuid.uuid4())
        inputs = {"zones": [z.model_dump() for z in decision.zones], "lists": lists,
                  "jurisdictions": decision.jurisdictions, "packs": decision.packs,
                  "lead_country": due.country, "facts": facts.summary()}
        event = ComplianceDecidedV1(
            decision_id=decision_id, lead_id=due.lead_id, list_id=due.list_id,
            campaign_id=due.campaign_id, attempt=due.attempt, phone_e164=due.phone_e164,
            outcome=decision.outcome,
            reasons=[DecisionReason(rule_id=r.rule_id, message=r.text) for r in reasons],
            valid_until=decision.valid_until, earliest_callable_at=decision.earliest_callable_at,
            policy_version=decision.policy_version, inputs=inputs)
        record = {**decision.to_dict(), "decision_id": decision_id, "list_id": due.list_id,
                  "attempt": due.attempt, "lists_consulted": lists, "lead_country": due.country}
        return Screened(tenant_id, event, record, decision.decided_at)

    async def store(self, session: AsyncSession, screened: Sequence[Screened]) -> None:
        """Append each decision to its lead's stream and insert the read rows, in bulk."""
        versions = await self._stream_versions(session, screened)
        for s in screened:
            key = (s.tenant_id, decision_stream_id(s.event.lead_id))
            await self._store.append(session, tenant_id=s.tenant_id, stream_id=key[1],
                                     expected_version=versions.get(key, 0), payloads=[s.event])
            versions[key] = versions.get(key, 0) + 1
        await session.execute(insert(decisions), [
            {"tenant_id": s.tenant_id, "decision_id": s.event.decision_id,
             "lead_id": s.event.lead_id, "list_id": s.event.list_id,
             "campaign_id": s.event.campaign_id, "attempt": s.event.attempt,
             "outcome": s.event.outcome, "phone_e164": s.event.phone_e164,
             "payload": s.record, "decided_at": s.decided_at}
            for s in screened])

    def _decide(self, tenant_id: str, due: LeadDueV1, now: datetime,
                extra: Mapping[str, Any], lead: LeadFacts) -> Decision:
        campaign = lead.campaign
        if campaign is None:
            return self._campaign_unknown(tenant_id, due, now, lead.unknown_retry_s)
        request = ScreeningRequest(
            tenant_id=tenant_id, campaign_id=due.campaign_id, lead_id=due.lead_id,
            number=due.phone_e164, subject=lead.product, product=lead.product,
            caller_id=campaign.caller_id or self._settings.caller_id,
            lead_zones=[CandidateZone(zone=z.zone, source=_ZONE_SOURCES[z.source],
                                      detail="lead record") for z in due.candidate_zones]
        ).model_copy(update=dict(extra))
        location = locate(request.number, request.address, request.explicit_zone,
                          request.lead_zones or ())
        national, copies = self._registries.facts(due.phone_e164) if self._registries else ([], [])
        facts = ScreeningFacts(dnc_hits=[*self._directory.hits(tenant_id, due.phone_e164), *national],
                               registry_copies=copies, attempts=lead.attempts(),
                               refusals=lead.refusals(), consents=lead.consents(),
                               waived_registries=self._settings.waived_registries)
        covered, uncovered = self._catalog.jurisdictions_for(location)
        policy = self._policy(tuple(covered), tuple(uncovered), tenant_id, due.campaign_id,
                              campaign.requires_consent)
        return evaluate(request, policy, facts, now, location)

    def _merge(self, covered: tuple[str, ...], uncovered: tuple[str, ...], tenant_id: str,
               campaign_id: str, requires_consent: bool) -> EffectivePolicy:
        """The merged packs; a campaign that requires consent adds that rule (so it is
        part of the policy version)."""
        policy = self._catalog.effective_policy(covered, tenant_id, campaign_id, uncovered)
        if requires_consent and not policy.requires_consent:
            policy = policy.model_copy(update={"requires_consent": True})
        return policy

    def _cap_clearance(self, decision: Decision, now: datetime) -> Decision:
        """A clearance holds at most ``clearance_max_s`` (besides the window end)."""
        cap = now + timedelta(seconds=self._settings.clearance_max_s)
        if decision.valid_until is not None and decision.valid_until <= cap:
            return decision
        note = Reason(rule_id="clearance.max_age", effect="note", source="settings", until=cap,
                      text=f"a clearance holds at most {self._settings.clearance_max_s} s")
        return decision.model_copy(update={"valid_until": cap,
                                           "reasons": [*decision.reasons, note]})

    def _campaign_unknown(self, tenant_id: str, due: LeadDueV1, now: datetime,
                          previous_s: float | None) -> Decision:
        """Blocked until ``unknown_campaign_retry_s`` later, doubled from ``previous_s``
        (the lead's previous ``campaign.unknown`` delay), capped at
        ``unknown_campaign_retry_max_s``: without the campaign's settings (caller ID,
        product, consent requirement) no rule can be trusted to clear, and a block
        without an earliest instant would close the lead."""
        s = self._settings
        delay_s = s.unknown_campaign_retry_s if previous_s is None else min(
            max(2 * previous_s, s.unknown_campaign_retry_s), s.unknown_campaign_retry_max_s)
        text = (f"compliance has not yet received the settings of campaign {due.campaign_id} "
                f"(caller ID, product, consent requirement); screened again after "
                f"{delay_s:g} s (fail closed)")
        return self._retry_block(tenant_id, due, now, "campaign.unknown", delay_s, text)

    def _facts_stale(self, tenant_id: str, due: LeadDueV1, now: datetime,
                     lag_s: float) -> Decision:
        """Blocked until ``facts_stale_retry_s`` later: the facts consumer is behind, so
        past attempts, refusals or consents may be missing."""
        s = self._settings
        age = "never" if math.isinf(lag_s) else f"{lag_s:.0f} s ago"
        text = (f"attempts, refusals and consents were last complete {age} (more than "
                f"{s.facts_max_lag_s:g} s: the facts consumer is behind); screened again "
                f"after {s.facts_stale_retry_s:g} s (fail closed)")
        return self._retry_block(tenant_id, due, now, "facts.stale", s.facts_stale_retry_s, text)

    @staticmethod
    def _retry_block(tenant_id: str, due: LeadDueV1, now: datetime, rule_id: str,
                     delay_s: float, text: str) -> Decision:
        retry = now + timedelta(seconds=delay_s)
        return Decision(
            outcome="blocked", decided_at=now, tenant_id=tenant_id, campaign_id=due.campaign_id,
            lead_id=due.lead_id, number_masked=mask_phone(due.phone_e164), policy_version="none",
            packs=[], jurisdictions=[], zones=[], inputs={}, earliest_callable_at=retry,
            reasons=[Reason(rule_id=rule_id, effect="block", source="screening",
                            until=retry, text=text)])

    @staticmethod
    def _failed_closed(tenant_id: str, due: LeadDueV1, now: datetime, exc: Exception) -> Decision:
        rule_id = next((r for t, r in _ERROR_RULES.items() if isinstance(exc, t)),
                       "screening.error")
        text = mask_phones_in_text(f"{type(exc).__name__}: {exc}")
        log.warning("screening of lead %s failed closed (%s): %s", due.lead_id, rule_id, text)
        return Decision(
            outcome="blocked", decided_at=now, tenant_id=tenant_id, campaign_id=due.campaign_id,
            lead_id=due.lead_id, number_masked=mask_phone(due.phone_e164), policy_version="none",
            packs=[], jurisdictions=[], zones=[], inputs={},
            reasons=[Reason(rule_id=rule_id, effect="block", source="screening",
                            text=f"{text} (fail closed)")])

    @staticmethod
    async def _stream_versions(session: AsyncSession, screened: Sequence[Screened]
                               ) -> dict[tuple[str, str], int]:
        """Current version of every decision stream of the batch, in one query."""
        streams = {decision_stream_id(s.event.lead_id) for s in screened}
        tenants = {s.tenant_id for s in screened}
        rows = await session.execute(
            select(event_store.c.tenant_id, event_store.c.stream_id, func.max(event_store.c.version))
            .where(event_store.c.tenant_id.in_(tenants), event_store.c.stream_id.in_(streams))
            .group_by(event_store.c.tenant_id, event_store.c.stream_id))
        return {(t, s): int(v) for t, s, v in rows}


async def _unknown_retries(session: AsyncSession, leads: set[tuple[str, str]]
                           ) -> dict[tuple[str, str], float]:
    """For each (tenant, lead) whose latest decision blocked ``campaign.unknown``, that
    decision's retry delay in seconds; one query (the latest row per lead,
    ``ix_decisions_lead``)."""
    if not leads:
        return {}
    d = decisions
    latest = (select(d.c.tenant_id, d.c.lead_id, func.max(d.c.decided_at).label("at"))
              .where(tuple_(d.c.tenant_id, d.c.lead_id).in_(sorted(leads)))
              .group_by(d.c.tenant_id, d.c.lead_id).subquery())
    rows = await session.execute(
        select(d.c.tenant_id, d.c.lead_id, d.c.decided_at, d.c.payload).join(
            latest, (d.c.tenant_id == latest.c.tenant_id) & (d.c.lead_id == latest.c.lead_id)
            & (d.c.decided_at == latest.c.at)))
    delays: dict[tuple[str, str], float] = {}
    for t, lead, decided_at, payload in rows:
        retry = payload.get("earliest_callable_at")
        if retry and any(r.get("rule_id") == "campaign.unknown" and r.get("effect") == "block"
                         for r in payload.get("reasons", ())):
            until = datetime.fromisoformat(retry.replace("Z", "+00:00"))
            delays[(t, lead)] = max(delays.get((t, lead), 0.0),
                                    (until - decided_at).total_seconds())
    return delays
