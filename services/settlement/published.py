"""The settlement service's published language: domain event -> contract (docs/events.md).

The one place the settlement domain meets its integration-event contracts
(proto/oonledger/settlement/v1/events.proto). Events not listed (remittance files, exceptions,
variances) leave as canonical JSON.
"""

from __future__ import annotations

from oonledger.settlement.v1 import events_pb2 as v1
from services.common.contracts import PublishedLanguage, from_fields
from services.settlement.domain import Settlement

LANGUAGE = PublishedLanguage(
    "settlement",
    {
        Settlement.SettlementOpened: from_fields(v1.SettlementOpened),
        Settlement.PaymentPosted: from_fields(v1.PaymentPosted),
        Settlement.PaymentReversed: from_fields(v1.PaymentReversed),
        Settlement.RecoupmentPosted: from_fields(v1.RecoupmentPosted),
        Settlement.InterestPosted: from_fields(v1.InterestPosted),
        Settlement.SettlementPaidInFull: from_fields(v1.SettlementPaidInFull),
        # Folded by the audit ledger.
        Settlement.SettlementUnderpaid: from_fields(v1.SettlementUnderpaid),
        Settlement.SettlementOverpaid: from_fields(v1.SettlementOverpaid),
        Settlement.SettlementOverdue: from_fields(v1.SettlementOverdue),
    },
)
