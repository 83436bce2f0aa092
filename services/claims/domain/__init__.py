"""The claims domain: the Claim aggregate, its value objects and rules. Pure: no I/O, no clock.

Rooms (one concept each):
- `claim.py`: the Claim aggregate and its events (intake, adjudication, documents, triage,
  clean check, corrections, appeals, downstream stages);
- `claim_data.py`: the value objects of a claim (what was billed, by whom, to whom; the payer's
  adjudication; documents) and the vocabularies (status, route, frequency, ...);
- `intake.py`: hard intake rules (what is never stored);
- `clean_claim.py`: the clean-claim check for a first filing (its tables, versioned, in
  `data/`: required modifiers, timely filing per payer and plan type);
- `adjudication_rules.py`: what a payer's adjudication must satisfy; whether it is adverse;
- `triage.py`: NSA protection and the dispute route (+ `service_class.py`, `state_laws.py`);
- `denials.py`: CARC/RARC codes, their remedies and each action's due date and rule;
- `appeals.py`: appeal windows, the ladder (level 1 → 2 → external), decision due dates, an
  appeal's record;
- `corrections.py`: what a replacement claim changed;
- `codes.py`: shape checks of identifiers and codes (NPI, TIN, CPT/HCPCS, ICD-10-CM, ...);
- `event_data.py`: the stored (JSON) form of the value objects inside events.

The rest of the service imports from this package, not from its modules.
"""

from services.claims.domain import codes
from services.claims.domain.appeals import (
    AppealChannel,
    AppealLevel,
    AppealOutcome,
    AppealRecord,
)
from services.claims.domain.claim import Claim
from services.claims.domain.claim_data import (
    Address,
    Adjudication,
    ClaimData,
    ClaimStatus,
    ClaimType,
    Document,
    DocumentKind,
    Facility,
    Frequency,
    NetworkStatus,
    Patient,
    Payer,
    Plan,
    PlanFunding,
    Provider,
    Route,
    ServiceLine,
)
from services.claims.domain.clean_claim import CleanClaimReport, Finding
from services.claims.domain.denials import DenialRemedy, Remedy
from services.claims.domain.intake import canonical, validate_claim
from services.claims.domain.service_class import ServiceClass, looks_like_emergency
from services.claims.domain.triage import Reason, TriageDecision, TriagePolicy

__all__ = [
    "Address",
    "Adjudication",
    "AppealChannel",
    "AppealLevel",
    "AppealOutcome",
    "AppealRecord",
    "Claim",
    "ClaimData",
    "ClaimStatus",
    "ClaimType",
    "CleanClaimReport",
    "DenialRemedy",
    "Document",
    "DocumentKind",
    "Facility",
    "Finding",
    "Frequency",
    "NetworkStatus",
    "Patient",
    "Payer",
    "Plan",
    "PlanFunding",
    "Provider",
    "Reason",
    "Remedy",
    "Route",
    "ServiceClass",
    "ServiceLine",
    "TriageDecision",
    "TriagePolicy",
    "canonical",
    "codes",
    "looks_like_emergency",
    "validate_claim",
]
