"""Realistic claims for tests: an emergency physician's ED visit billed to a PPO."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from services.claims.domain import (
    Address,
    ClaimData,
    ClaimType,
    Facility,
    NetworkStatus,
    Patient,
    Payer,
    Plan,
    PlanFunding,
    Provider,
    ServiceLine,
)
from services.common.context import CommandContext

TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
VALID_NPI = "1234567893"
FACILITY_NPI = "1245319599"
BILLING_ADDRESS = Address("1200 Market St", "Philadelphia", "PA", "191072101")
FACILITY_ADDRESS = Address("1500 Spruce St", "Philadelphia", "PA", "191024101")


def ctx(
    tenant: str = "tenant-a",
    request_id: str = "req-1",
    now: datetime = NOW,
    roles: frozenset[str] = frozenset({"negotiator"}),
) -> CommandContext:
    """A negotiator's command (claims' writes are for negotiators and admins)."""
    return CommandContext(
        tenant_id=tenant, actor="tester", now=now, request_id=request_id, roles=roles
    )


def emergency_claim(**overrides: object) -> ClaimData:
    data = ClaimData(
        client_id="client-ed-group",
        claim_type=ClaimType.PROFESSIONAL,
        patient_control_number="PCN-2026-0001",
        provider=Provider(
            name="Metro Emergency Physicians",
            npi=VALID_NPI,
            tin="12-3456789",
            address=BILLING_ADDRESS,
        ),
        patient=Patient("Jane", "Roe", date(1980, 4, 2), "W123456789", "F"),
        payer=Payer(payer_id="87726", name="Example Health Plan"),
        plan=Plan(
            name="Example PPO",
            funding=PlanFunding.SELF_FUNDED_ERISA,
            situs_state="PA",
        ),
        facility=Facility(
            name="Mercy General",
            npi=FACILITY_NPI,
            network_status=NetworkStatus.IN_NETWORK,
            state="PA",
            address=FACILITY_ADDRESS,
        ),
        emergency=True,
        diagnosis_codes=("S0990XA", "R51.9"),
        lines=(
            ServiceLine("99285", 185_000, date(2026, 10, 3), 1, ("25",), "23", "", (1, 2)),
            ServiceLine("12002", 64_000, date(2026, 10, 3), 1, (), "23", "", (1,)),
        ),
    )
    return replace(data, **overrides)  # type: ignore[arg-type]


def institutional_claim(**overrides: object) -> ClaimData:
    data = emergency_claim(
        claim_type=ClaimType.INSTITUTIONAL,
        bill_type="131",
        provider=Provider(
            name="Mercy General", npi=FACILITY_NPI, tin="23-4567890", address=BILLING_ADDRESS
        ),
        admission_type_code="1",
        patient_status_code="01",
        lines=(
            ServiceLine("99285", 420_000, date(2026, 10, 3), 1, (), "", "0450", ()),
            ServiceLine("70450", 180_000, date(2026, 10, 3), 1, (), "", "0350", ()),
        ),
    )
    return replace(data, **overrides)  # type: ignore[arg-type]
