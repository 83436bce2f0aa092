"""The claims service's commands: what a caller asks of a use case (services/claims/application.py).

Frozen dataclasses of domain values; the gRPC adapter builds them (adapters/commands.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from services.claims.domain import (
    Adjudication,
    AppealChannel,
    AppealLevel,
    AppealOutcome,
    ClaimData,
    ClaimStatus,
    DocumentKind,
    Frequency,
    TriagePolicy,
)
from services.common.errors import InvalidArgument


@dataclass(frozen=True)
class RegisterClaim:
    data: ClaimData


@dataclass(frozen=True)
class ImportItem:
    """One claim of a bulk import: its own request id, and its data or why it was unreadable."""

    request_id: str
    data: ClaimData | InvalidArgument
    frequency: Frequency = Frequency.ORIGINAL  # an 837's CLM05-3
    original_reference: str = ""  # an 837's REF*F8: the payer's claim number of the original
    # Claims of the tenant with the same patient control number (the read model's answer):
    # the one whose payer claim number is `original_reference` is the 7/8's original.
    original_candidates: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportClaims:
    items: tuple[ImportItem, ...]


@dataclass(frozen=True)
class RecordAdjudication:
    claim_id: str
    adjudication: Adjudication
    expected_version: int = 0


@dataclass(frozen=True)
class AttachDocument:
    claim_id: str
    kind: DocumentKind
    sha256: str
    location: str
    size_bytes: int
    expected_version: int = 0


@dataclass(frozen=True)
class TriageClaim:
    claim_id: str
    policy: TriagePolicy = field(default_factory=TriagePolicy)
    expected_version: int = 0


@dataclass(frozen=True)
class CheckCleanClaim:
    claim_id: str
    expected_version: int = 0


@dataclass(frozen=True)
class SubmitCorrectedClaim:
    original_claim_id: str
    frequency: Frequency
    corrected: ClaimData | None
    reason: str
    expected_version: int = 0
    # The payer's claim number of the original when its adjudication has none (REF*F8).
    original_reference: str = ""


@dataclass(frozen=True)
class UpdateClaim:
    claim_id: str
    data: ClaimData
    expected_version: int = 0


@dataclass(frozen=True)
class WithdrawClaim:
    claim_id: str
    reason: str
    expected_version: int = 0


@dataclass(frozen=True)
class FileAppeal:
    claim_id: str
    level: AppealLevel
    grounds: str
    cited_document_ids: tuple[str, ...]
    channel: AppealChannel
    adverse_determination_date: date | None
    expected_version: int = 0


@dataclass(frozen=True)
class RecordAppealDecision:
    claim_id: str
    appeal_id: str
    outcome: AppealOutcome
    decision_date: date
    additional_paid_cents: int
    expected_version: int = 0
    # An overturn not paid yet: what the payer owes.
    expected_additional_cents: int = 0


@dataclass(frozen=True)
class ReachStage:
    """Another service moved the claim on (its event `source_event_id`)."""

    claim_id: str
    stage: ClaimStatus
    source_event_id: str


@dataclass(frozen=True)
class RecordNegotiationRefusal:
    """Negotiation refused to open a case for the claim (its event `source_event_id`)."""

    claim_id: str
    reason: str
    source_event_id: str
    # Negotiation's open-negotiation notice deadline ("" when it stated none) and rule set.
    notice_due_on: str = ""
    rule_set_version: str = ""


@dataclass(frozen=True)
class RecordRemittedAdjudication:
    """Settlement remitted the claim's initial adjudication (its first 835 payment or denial)."""

    claim_id: str
    adjudication: Adjudication
