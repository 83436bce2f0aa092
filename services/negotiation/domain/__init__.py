"""The negotiation domain: aggregates, value objects and NSA rules (pure, no I/O).

What the rest of the service uses: the two aggregates of a case (`Negotiation`, open
negotiation; `FederalIdrDispute`, its federal IDR dispute), the per-tenant and per-claim
aggregates (`ClaimFacts`, `ClientPolicy`, `CoolingOffRegister`), the deadline engine and the
value objects. Topics stored before this package existed resolve through `stored_topics`.
"""

from services.negotiation.domain import stored_topics as _stored_topics  # noqa: F401
from services.negotiation.domain.claim_facts import ClaimFacts, facts_id
from services.negotiation.domain.client_policy import ClientPolicy, policy_id
from services.negotiation.domain.cooling_off_register import CoolingOffRegister, register_id
from services.negotiation.domain.deadlines import Deadline, DeadlineEngine
from services.negotiation.domain.federal_idr_dispute import (
    DisputedClaim,
    FederalIdrDispute,
    dispute_id_for,
)
from services.negotiation.domain.negotiation import Negotiation
from services.negotiation.domain.values import (
    Adjudication,
    Decision,
    Escalation,
    IdreSelection,
    Offer,
    OpeningFacts,
    ProposedOffer,
)

__all__ = [
    "Adjudication",
    "ClaimFacts",
    "ClientPolicy",
    "CoolingOffRegister",
    "Deadline",
    "DeadlineEngine",
    "Decision",
    "DisputedClaim",
    "Escalation",
    "FederalIdrDispute",
    "IdreSelection",
    "Negotiation",
    "Offer",
    "OpeningFacts",
    "ProposedOffer",
    "dispute_id_for",
    "facts_id",
    "policy_id",
    "register_id",
]
