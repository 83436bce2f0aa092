"""The claims service's published language: domain event -> contract (docs/events.md).

The one place the claims domain meets its integration-event contracts
(proto/oonledger/claims/v1/events.proto). Events not listed leave as canonical JSON.
"""

from __future__ import annotations

from oonledger.claims.v1 import events_pb2 as v1
from services.claims.domain import Claim
from services.common.contracts import PublishedLanguage, from_fields

LANGUAGE = PublishedLanguage(
    "claims",
    {
        # The patient is PHI: it is never a field of the contract (wire.event_fields drops it).
        Claim.ClaimRegistered: from_fields(v1.ClaimRegistered),
        Claim.AdjudicationRecorded: from_fields(v1.AdjudicationRecorded),
        Claim.ClaimTriaged: from_fields(v1.ClaimTriaged),
        # Folded by the audit ledger.
        Claim.ClaimStageReached: from_fields(v1.ClaimStageReached),
        Claim.AppealDecisionRecorded: from_fields(v1.AppealDecisionRecorded),
    },
)
