"""Value objects of the negotiation aggregates: what their state holds, typed and immutable.

Each is built from the event that records it (never edited in place; a change of status is a
new value). `SNAPSHOT_TYPES` lists them for the snapshot transcoder (application.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from services.negotiation.domain.deadlines import Extension
from services.negotiation.domain.vocabulary import DecisionAction, DecisionStatus


@dataclass(frozen=True)
class Offer:
    """An offer either party made in open negotiation (`kind`: "offer" or "counter")."""

    offer_id: str
    kind: str
    party: str
    amount_cents: int
    percent_of_qpa_bp: int
    made_on: date
    notes: str = ""  # shown to the provider client
    medicare_multiple_bp: int = 0  # the Medicare multiple the offer cites (0: not cited)


@dataclass(frozen=True)
class Decision:
    """A provider decision point: proposed by a negotiator, decided by the provider."""

    decision_id: str
    action: str
    offer_id: str
    counter_amount_cents: int
    status: str
    proposed_by: str
    rationale: str = ""  # the negotiator's reasons, for the provider's approver

    @property
    def is_pending(self) -> bool:
        return self.status == DecisionStatus.PROPOSED

    @property
    def is_idr(self) -> bool:
        return self.action == DecisionAction.IDR

    def decided(self, status: DecisionStatus) -> Decision:
        return replace(self, status=status.value)


@dataclass(frozen=True)
class Escalation:
    """One level of the client's escalation chain raised for one deadline's due date."""

    deadline_code: str
    due_on: date
    level: int


@dataclass(frozen=True)
class IdreSelection:
    """The IDR entity chosen for a dispute, and its fee."""

    idre_id: str
    method: str
    selected_on: date
    idre_fee_cents: int


@dataclass(frozen=True)
class Adjudication:
    """The payer's initial payment or denial of the claim (from the claims service's events)."""

    received_on: date
    paid_cents: int
    patient_responsibility_cents: int
    qpa_cents: int
    denied: bool


@dataclass(frozen=True)
class CoolingOffEntry:
    """A cooling-off period recorded on a register (its parties and family are the register's)."""

    dispute_number: str
    starts_on: date
    ends_on: date


SNAPSHOT_TYPES: tuple[type, ...] = (
    Offer,
    Decision,
    Escalation,
    IdreSelection,
    Adjudication,
    CoolingOffEntry,
    Extension,
)


@dataclass(frozen=True)
class OpeningFacts:
    """The claim line a negotiation opens on (the `Opened` event's facts)."""

    claim_id: str
    provider_npi: str
    provider_tin: str
    payer_id: str
    plan_id: str
    plan_funding: str
    service_code: str
    service_date: date | None
    billed_cents: int
    qpa_cents: int
    patient_cost_sharing_cents: int
    already_paid_cents: int
    bill_received_on: date | None
    initial_payment_received_on: date | None
    route: str
    assignee: str


@dataclass(frozen=True)
class ProposedOffer:
    """An offer to record: by either party, or the provider's counter from a decision."""

    offer_id: str
    party: str
    amount_cents: int
    basis: Mapping[str, int | str]
    channel: str
    notes: str
    document_refs: tuple[str, ...]
    made_on: date | None
