"""Facts for screening, loaded in bulk for one poll of due leads.

One query per kind of fact for the whole poll: the campaigns of the due leads, and the
attempts (bounded to the longest rolling window of the packs), refusals and consents of
the due numbers. Everything is keyed by (tenant, number): a tenant's facts never reach
another tenant's screening.

A due lead whose campaign compliance has not heard of yet is not screened: the Screener
blocks it ``campaign.unknown`` for a short retry. A past attempt's or refusal's campaign
that is unknown, or a known campaign without a product, counts against every product and
subject (caps and refusal bans fire more, never less); a known campaign without a caller
ID takes the ``KADEN_CALLER_ID`` setting (see docs/compliance.md, "Facts from events").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from compliance.adapters.facts_tables import call_attempts, campaign_facts, consents, refusals
from compliance.domain.decision import Attempt, AttemptOutcome, Consent, Refusal
from compliance.domain.policy import PolicyCatalog

Key = tuple[str, str]
"""(tenant_id, campaign_id) or (tenant_id, phone_e164)."""

# Margin over the longest window: calendar-day windows end at local midnight, up to a
# day and a DST hour past the exact length.
_LOOKBACK_MARGIN = timedelta(days=2)


@dataclass(frozen=True)
class CampaignFacts:
    """What the latest ``campaign.state_changed`` said about a campaign."""

    state: str
    caller_id: str | None
    product: str | None
    requires_consent: bool


@dataclass(frozen=True)
class PastFact:
    """A past attempt or refusal of a number; ``product`` None: its campaign or product
    is unknown."""

    at: datetime
    campaign_id: str
    product: str | None
    outcome: AttemptOutcome = "no_answer"


@dataclass(frozen=True)
class ConsentFact:
    """A consent row: its scope (None: every campaign / any product) and validity."""

    campaign_id: str | None
    product: str | None
    granted_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class LeadFacts:
    """Everything loaded for one due lead, converted to the domain's facts on demand."""

    tenant_id: str
    number: str
    campaign_id: str
    campaign: CampaignFacts | None = None
    past_attempts: tuple[PastFact, ...] = ()
    past_refusals: tuple[PastFact, ...] = ()
    consent_rows: tuple[ConsentFact, ...] = ()
    # Seconds since the facts consumer was last caught up (inf: never); see facts_watermark.
    facts_lag_s: float = 0.0
    # Retry delay of the lead's latest decision when it was campaign.unknown, seconds.
    unknown_retry_s: float | None = None

    @property
    def product(self) -> str | None:
        """The campaign's product: the subject of caps and the product of refusal bans."""
        return self.campaign.product if self.campaign else None

    def attempts(self) -> list[Attempt]:
        """Past calls to the number by this tenant; unknown subject → this lead's."""
        return [Attempt(at=a.at, seller=self.tenant_id, person_key=self.number,
                        number=self.number, subject=a.product or self.product,
                        outcome=a.outcome)
                for a in self.past_attempts]

    def refusals(self) -> list[Refusal]:
        """Refusals by the person; unknown product → this lead's product (banned too)."""
        return [Refusal(at=r.at, seller=self.tenant_id, person_key=self.number,
                        number=self.number, product=r.product or self.product)
                for r in self.past_refusals]

    def consents(self) -> list[Consent]:
        """Consents whose scope covers this campaign (no campaign/product: every one)."""
        return [Consent(seller=self.tenant_id, number=self.number, granted_at=c.granted_at,
                        revoked_at=c.revoked_at)
                for c in self.consent_rows
                if c.campaign_id in (None, self.campaign_id)
                and (c.product is None or c.product == self.product)]

    def summary(self) -> dict[str, object]:
        """What the decision record keeps about these facts (no number)."""
        c = self.campaign
        return {"campaign": None if c is None else {
                    "state": c.state, "product": c.product,
                    "requires_consent": c.requires_consent, "caller_id": c.caller_id is not None},
                "attempts": len(self.past_attempts), "refusals": len(self.past_refusals),
                "consents": len(self.consents())}


@dataclass
class FactBook:
    """The facts of one poll, by campaign and by number."""

    campaigns: dict[Key, CampaignFacts] = field(default_factory=dict)
    attempts: dict[Key, list[PastFact]] = field(default_factory=lambda: defaultdict(list))
    refusals: dict[Key, list[PastFact]] = field(default_factory=lambda: defaultdict(list))
    consents: dict[Key, list[ConsentFact]] = field(default_factory=lambda: defaultdict(list))

    def for_lead(self, tenant_id: str, campaign_id: str, number: str) -> LeadFacts:
        """The facts of one due lead."""
        key = (tenant_id, number)
        return LeadFacts(tenant_id, number, campaign_id,
                         self.campaigns.get((tenant_id, campaign_id)),
                         tuple(self.attempts.get(key, ())), tuple(self.refusals.get(key, ())),
                         tuple(self.consents.get(key, ())))


def attempt_lookback(catalog: PolicyCatalog) -> timedelta:
    """How far back attempts can matter: the longest cap window or redial gap of any
    pack (a day for "not the same local day"), plus a margin."""
    hours = [24.0]
    for pack in (catalog.pack(i) for i in catalog.pack_ids):
        hours += [cap.window.sort_key() for cap in pack.attempt_caps]
        hours += [r.min_gap.sort_key() for r in pack.redial_rules if r.min_gap]
    return timedelta(hours=max(hours)) + _LOOKBACK_MARGIN


async def load_facts(session: AsyncSession, leads: Iterable[tuple[str, str, str]],
                     now: datetime, lookback: timedelta) -> FactBook:
    """Facts of ``leads`` = (tenant, campaign, number), four queries for the lot."""
    leads = list(leads)
    book = FactBook()
    if not leads:
        return book
    tenants = {t for t, _, _ in leads}
    numbers = {(t, n) for t, _, n in leads}
    phones = {n for _, _, n in leads}
    a, f, k = call_attempts, refusals, consents
    attempt_rows = [r for r in await session.execute(
        select(a.c.tenant_id, a.c.phone_e164, a.c.campaign_id, a.c.at, a.c.outcome)
        .where(a.c.tenant_id.in_(tenants), a.c.phone_e164.in_(phones),
               a.c.at >= now - lookback))
        if (r.tenant_id, r.phone_e164) in numbers]
    refusal_rows = [r for r in await session.execute(
        select(f.c.tenant_id, f.c.phone_e164, f.c.campaign_id, f.c.at)
        .where(f.c.tenant_id.in_(tenants), f.c.phone_e164.in_(phones)))
        if (r.tenant_id, r.phone_e164) in numbers]
    for kr in await session.execute(
            select(k.c.tenant_id, k.c.phone_e164, k.c.campaign_id, k.c.product, k.c.granted_at,
                   k.c.revoked_at)
            .where(k.c.tenant_id.in_(tenants), k.c.phone_e164.in_(phones))):
        if (kr.tenant_id, kr.phone_e164) in numbers:
            book.consents[(kr.tenant_id, kr.phone_e164)].append(ConsentFact(
                kr.campaign_id, kr.product, kr.granted_at, kr.revoked_at))
    # The due leads' campaigns and those of past attempts and refusals (their products).
    wanted = {(t, c) for t, c, _ in leads} | {
        (r.tenant_id, r.campaign_id) for r in [*attempt_rows, *refusal_rows]}
    c = campaign_facts
    for cr in await session.execute(
            select(c).where(c.c.tenant_id.in_(tenants),
                            c.c.campaign_id.in_({cid for _, cid in wanted}))):
        book.campaigns[(cr.tenant_id, cr.campaign_id)] = CampaignFacts(
            cr.state, cr.caller_id, cr.product, cr.requires_consent)
    for ar in attempt_rows:
        book.attempts[(ar.tenant_id, ar.phone_e164)].append(PastFact(
            ar.at, ar.campaign_id, _product(book, ar.tenant_id, ar.campaign_id),
            ar.outcome or "no_answer"))
    for rr in refusal_rows:
        book.refusals[(rr.tenant_id, rr.phone_e164)].append(PastFact(
            rr.at, rr.campaign_id, _product(book, rr.tenant_id, rr.campaign_id)))
    return book


def _product(book: FactBook, tenant_id: str, campaign_id: str) -> str | None:
    campaign = book.campaigns.get((tenant_id, campaign_id))
    return campaign.product if campaign else None
