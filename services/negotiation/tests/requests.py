"""Request builders for the service tests."""

from __future__ import annotations

import uuid
from typing import Any

from oonledger.negotiation.v1 import negotiation_pb2 as pb


def open_request(claim_id: str, **overrides: Any) -> pb.OpenNegotiationRequest:
    fields: dict[str, Any] = dict(
        request_id=uuid.uuid4().hex,
        claim_id=claim_id,
        provider_npi="1234567893",
        provider_tin="12-3456789",
        payer_id="payer-acme",
        plan_id="plan-acme-ppo",
        plan_funding="fully_insured",
        service_code="70450",
        service_on="2026-04-20",
        billed_cents=250_000,
        qpa_cents=40_000,
        patient_cost_sharing_cents=5_000,
        already_paid_cents=35_000,
        bill_received_on="2026-05-01",
        initial_payment_received_on="2026-06-01",
        route="federal_idr",
        assignee="neg@example.test",
    )
    fields.update(overrides)
    return pb.OpenNegotiationRequest(**fields)
