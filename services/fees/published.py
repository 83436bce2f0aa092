"""The fees service's published language: domain event -> contract (docs/events.md).

The one place the fees domain meets its integration-event contracts
(proto/oonledger/fees/v1/events.proto). Events not listed leave as canonical JSON.
"""

from __future__ import annotations

from oonledger.fees.v1 import events_pb2 as v1
from services.common.contracts import PublishedLanguage, from_fields
from services.fees.fee_account import FeeAccount

LANGUAGE = PublishedLanguage(
    "fees",
    {
        FeeAccount.FeeAssessed: from_fields(v1.FeeAssessed),
        # Folded by the audit ledger.
        FeeAccount.IdrFeePassedThrough: from_fields(v1.IdrFeePassedThrough),
    },
)
