"""A realistic claim as partners send it (proto), for tests and benchmarks through the gateway."""

from __future__ import annotations

from oonledger.claims.v1 import claims_pb2


def emergency_claim(client_id: str = "client-ed-group", pcn: str = "PCN-2026-0001",
                    service_date: str = "2026-10-03") -> claims_pb2.ClaimInput:
    """An out-of-network emergency physician's ED visit at an in-network facility (NSA)."""
    return claims_pb2.ClaimInput(
        client_id=client_id,
        claim_type=claims_pb2.CLAIM_TYPE_PROFESSIONAL,
        patient_control_number=pcn,
        provider=claims_pb2.Provider(name="Metro Emergency Physicians", npi="1234567893",
                                     tin="12-3456789"),
        patient=claims_pb2.Patient(first_name="Jane", last_name="Roe", birth_date="1980-04-02",
                                   member_id="W123456789"),
        payer=claims_pb2.Payer(payer_id="87726", name="Example Health Plan"),
        plan=claims_pb2.Plan(name="Example PPO", funding=claims_pb2.PLAN_FUNDING_SELF_FUNDED_ERISA,
                             situs_state="PA"),
        facility=claims_pb2.Facility(name="Mercy General", npi="1245319599",
                                     network_status=claims_pb2.NETWORK_STATUS_IN_NETWORK,
                                     state="PA"),
        emergency=True,
        diagnosis_codes=["S0990XA", "R51.9"],
        lines=[
            claims_pb2.ServiceLine(procedure_code="99285", modifiers=["25"], units=1,
                                   billed_cents=185_000, service_date=service_date,
                                   place_of_service="23", diagnosis_pointers=[1, 2]),
            claims_pb2.ServiceLine(procedure_code="12002", units=1, billed_cents=64_000,
                                   service_date=service_date, place_of_service="23",
                                   diagnosis_pointers=[1]),
        ],
    )
