"""The negotiation service's commands: what a caller asks for, typed (application.py runs them).

Built from requests by adapters/mapping.py (dates already parsed, enums in the domain's spelling,
"" when unspecified: the domain names the field), from the claims service's events by
adapters/subscriptions.py. `OpeningFacts` and `ProposedOffer` (domain/values.py) are commands too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.negotiation.domain import ProposedOffer
from services.negotiation.domain.approval_rules import AutoApprovalRule
from services.negotiation.domain.dispute_lines import DisputedLine, LineOffer


@dataclass(frozen=True)
class SendNotice:
    negotiation_id: str
    sent_on: date | None
    channel: str
    portal_reference: str


@dataclass(frozen=True)
class RecordPayerResponse:
    negotiation_id: str
    received_on: date | None
    channel: str
    summary: str


@dataclass(frozen=True)
class MakeOffer:
    negotiation_id: str
    offer: ProposedOffer


@dataclass(frozen=True)
class ProposeDecision:
    negotiation_id: str
    decision_id: str
    action: str
    offer_id: str
    counter_amount_cents: int
    rationale: str
    decided_on: date | None = None


@dataclass(frozen=True)
class ApproveDecision:
    negotiation_id: str
    decision_id: str
    decided_on: date | None = None


@dataclass(frozen=True)
class RejectDecision:
    negotiation_id: str
    decision_id: str
    reason: str


@dataclass(frozen=True)
class AssignNegotiation:
    negotiation_id: str
    assignee: str


@dataclass(frozen=True)
class ExtendDeadline:
    negotiation_id: str
    deadline_code: str
    new_due_on: date | None
    reason: str
    reference: str


@dataclass(frozen=True)
class InitiateIdr:
    negotiation_id: str
    dispute_number: str
    initiated_on: date | None
    initiating_party: str
    batch_negotiation_ids: tuple[str, ...] = ()
    bundled: bool = False
    # A line-level dispute: (negotiation id, "" for the lead; the line) pairs.
    lines: tuple[tuple[str, DisputedLine], ...] = ()


@dataclass(frozen=True)
class SelectIdre:
    negotiation_id: str
    idre_id: str
    method: str
    selected_on: date | None
    idre_fee_cents: int


@dataclass(frozen=True)
class RecordEligibility:
    negotiation_id: str
    eligible: bool
    decided_on: date | None
    reason: str


@dataclass(frozen=True)
class SubmitIdrOffer:
    negotiation_id: str
    party: str
    amount_cents: int
    submitted_on: date | None
    line_offers: tuple[LineOffer, ...] = ()


@dataclass(frozen=True)
class RecordIdrFee:
    """A party paid, got back or forfeited an IDR fee (DOMAIN.md §1.8); enums in the domain's
    spelling ("" when unspecified)."""

    negotiation_id: str
    party: str
    fee_kind: str
    movement: str
    amount_cents: int
    occurred_on: date | None
    source: str
    source_reference: str


@dataclass(frozen=True)
class RecordDetermination:
    negotiation_id: str
    prevailing_party: str
    determined_on: date | None
    line_parties: tuple[tuple[int, str], ...] = ()  # a line-level determination


@dataclass(frozen=True)
class CloseWithoutOffers:
    negotiation_id: str
    closed_on: date | None


@dataclass(frozen=True)
class SetClientPolicy:
    rules: tuple[AutoApprovalRule, ...] = ()
    chain: tuple[tuple[str, int], ...] = ()  # (role, business days left), widest first


@dataclass(frozen=True)
class SuggestionQuery:
    service_code: str
    region: str
    plan_type: str
    qpa_cents: int
