"""After each act of a case, state its compliance report as it stood (domain/compliance_record.py).

A reaction to negotiation's own events: the act's event names the claim (its envelope), the
case's negotiation follows from it; the report is computed from the case's events recorded up
to the act's instant (never later ones, so a lagging or replayed consumer states the same
report) and recorded on the case's ComplianceRecord, which the audit ledger folds.
"""

from __future__ import annotations

import logging
from datetime import UTC

from services.common.aggregate import TenantAggregate
from services.common.consumer import Delivery
from services.common.context import eastern_date
from services.negotiation.application import NegotiationApplication, negotiation_id_for
from services.negotiation.domain import Negotiation
from services.negotiation.domain.compliance_record import ComplianceRecord, record_id

log = logging.getLogger(__name__)
ACTOR = "system:negotiation-compliance"
# The events after which the report can change (an act, a deadline moved, the case's end).
ACT_EVENTS = (
    "Opened", "OpenNegotiationNoticeSent", "PayerResponseReceived", "SettlementAgreed",
    "DeadlineExtended", "IdrInitiated", "IdreSelected", "IdrEligibilityDetermined",
    "IdrOfferSubmitted", "IdrDetermined", "IdrClosed",
)


class ComplianceRecorder:
    def __init__(self, app: NegotiationApplication) -> None:
        self.app = app

    def __call__(self, delivery: Delivery) -> list[TenantAggregate | None]:
        env = delivery.envelope
        ctx = delivery.context(actor=ACTOR)
        claim_id = env.claim_id
        nid = negotiation_id_for(ctx.tenant_id, claim_id)
        if not claim_id or self.app.find(nid, ctx.tenant_id, Negotiation) is None:
            log.warning("compliance record: %s %s names no negotiation (claim %r)",
                        env.event_type, env.event_id, claim_id)
            return []
        at = env.occurred_at.ToDatetime(tzinfo=UTC)
        report = self.app.compliance(ctx, str(nid), eastern_date(at), until=at)
        record = self.app.find(record_id(ctx.tenant_id, str(nid)), ctx.tenant_id,
                                ComplianceRecord)
        if record is None:
            record = ComplianceRecord.open(ctx, claim_id=claim_id, negotiation_id=str(nid))
        record.state(ctx, report=report, source_event_type=env.event_type,
                     source_event_id=env.event_id, source_occurred_at=at)
        return [record]
