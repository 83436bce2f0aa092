"""Helpers of the claims service tests: a fresh tenant, its call metadata, claims to send."""

from __future__ import annotations

import uuid
from pathlib import Path

from oonledger.claims.v1 import claims_pb2 as pb
from services.claims.adapters import mapping
from services.claims.tests.factories import emergency_claim
from tests.support.plugin import call_metadata

DATA = Path(__file__).parent / "data"
SHA = "9f" * 32


def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"


def unique_pcn() -> str:
    return f"PCN-{uuid.uuid4().hex[:12].upper()}"


def md(t: str, request_id: str | None = None):
    return call_metadata(t, request_id=request_id)


def claim_input(**overrides) -> pb.ClaimInput:
    return mapping.claim_input(emergency_claim(**overrides))


async def register(stub, t: str, request_id: str | None = None, **overrides) -> pb.Claim:
    """A claim of its own (a patient control number of its own unless one is given: the same
    claim registered again would be a duplicate, ALREADY_EXISTS)."""
    overrides.setdefault("patient_control_number", unique_pcn())
    response = await stub.RegisterClaim(
        pb.RegisterClaimRequest(
            request_id=request_id or uuid.uuid4().hex, claim=claim_input(**overrides)
        ),
        metadata=md(t),
    )
    return response.claim


def denial(received: str = "2026-10-30", carc: tuple[str, ...] = ("16",)) -> pb.Adjudication:
    return pb.Adjudication(
        received_date=received,
        billed_cents=249_000,
        denied=True,
        carc_codes=list(carc),
        rarc_codes=["N290"],
        payer_claim_control_number="ICN-778899",
    )


