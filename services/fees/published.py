"""The fees service's published language: domain event -> contract (docs/events.md).

The one place the fees domain meets its integration-event contracts
(proto/oonledger/fees/v1/events.proto). Every event the service records is listed: nothing it
publishes leaves as canonical JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from oonledger.fees.v1 import events_pb2 as v1
from services.common.contracts import PublishedLanguage, from_fields
from services.fees.domain import (
    ClientBilling,
    FeeAccount,
    FeeSchedule,
    LineRecord,
    line_from_record,
    line_to_record,
)


def _lines(records: Sequence[LineRecord]) -> list[LineRecord]:
    """Stored line records as the contract's FeeLine (the records of invoices closed before
    lines were typed also carry the read model's invoice id, which is not part of a line)."""
    return [line_to_record(line_from_record(record)) for record in records]


def _inline_lines(event: ClientBilling.InvoiceIssued) -> Mapping[str, Any]:
    return {"lines": _lines(event.inline_lines())}


def _recorded_lines(event: ClientBilling.InvoiceLinesRecorded) -> Mapping[str, Any]:
    return {"lines": _lines(event.lines)}


LANGUAGE = PublishedLanguage(
    "fees",
    {
        # Consumed by settlement (the fee posting) and folded by the audit ledger.
        FeeAccount.FeeAssessed: from_fields(v1.FeeAssessed),
        FeeAccount.IdrFeePassedThrough: from_fields(v1.IdrFeePassedThrough),
        # Read by the fees read models; recorded by the audit ledger.
        FeeAccount.FeeAccountOpened: from_fields(v1.FeeAccountOpened),
        FeeAccount.ClaimFactsRecorded: from_fields(v1.ClaimFactsRecorded),
        FeeSchedule.FeeScheduleCreated: from_fields(v1.FeeScheduleCreated),
        FeeSchedule.FeeScheduleVersionPublished: from_fields(v1.FeeScheduleVersionPublished),
        ClientBilling.ClientBillingOpened: from_fields(v1.ClientBillingOpened),
        ClientBilling.InvoiceIssued: from_fields(v1.InvoiceIssued, extra=_inline_lines),
        ClientBilling.InvoiceLinesRecorded: from_fields(v1.InvoiceLinesRecorded,
                                                        extra=_recorded_lines),
    },
)
