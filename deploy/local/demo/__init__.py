"""The `make run` demo: one vendor client's whole journey, through the partner gateway.

bulk import → registration and triage → open negotiation → offers → provider approval →
agreement; a second claim through federal IDR; 835 payment posting; fees and ROI; finally an
auditor replays and verifies a claim. Every call goes through the gateway with an API key (the
gateway sets tenant and roles from the key); without a gateway it calls the services directly.

Each run is a fresh demo client: its own tenant (`demo-vendor-client-<run id>`) and key, so
running `make run` again on the same data never meets the previous run's claims, negotiations
or payments. `OON_DEMO_CLAIMS` sets the size of the bulk import (default 2,000).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc

from oonledger.claims.v1 import claims_pb2
from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub

CLIENT_ID = "metro-ed-group"
BULK_CLAIMS = 2_000
BULK_BATCH = 500
TENANT_PREFIX = "demo-vendor-client"


class _WithMetadata(
    grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor
):
    """Adds fixed metadata (the partner's bearer key) to every call on a channel."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self.metadata = tuple(metadata)

    def _details(self, details: Any) -> Any:
        merged = tuple(details.metadata or ()) + self.metadata
        return details._replace(metadata=merged)

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details), request)

    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._details(client_call_details), request)


def _banner(text: str) -> None:
    print(f"\n━━ {text} " + "━" * max(0, 70 - len(text)), flush=True)


def _ed_claim(pcn: str, dos: date, plan: claims_pb2.Plan) -> claims_pb2.ClaimInput:
    lines = [
        claims_pb2.ServiceLine(procedure_code="99285", modifiers=["25"], units=1,
                           billed_cents=185_000, place_of_service="23",
                           diagnosis_pointers=[1, 2], service_date=dos.isoformat()),
        claims_pb2.ServiceLine(procedure_code="12002", units=1, billed_cents=64_000,
                           place_of_service="23", diagnosis_pointers=[1],
                           service_date=dos.isoformat()),
    ]
    return claims_pb2.ClaimInput(
        client_id=CLIENT_ID,
        claim_type=claims_pb2.CLAIM_TYPE_PROFESSIONAL,
        patient_control_number=pcn,
        provider=claims_pb2.Provider(
            name="Metro Emergency Physicians", npi="1234567893", tin="12-3456789",
            address=claims_pb2.Address(line1="1200 Market St", city="Philadelphia", state="PA",
                                   postal_code="19107"),
        ),
        patient=claims_pb2.Patient(first_name="Jane", last_name="Roe", birth_date="1980-04-02",
                               member_id="W123456789"),
        payer=claims_pb2.Payer(payer_id="87726", name="Example Health Plan"),
        plan=plan,
        facility=claims_pb2.Facility(name="Mercy General", npi="1245319599",
                                 network_status=claims_pb2.NETWORK_STATUS_IN_NETWORK, state="PA"),
        emergency=True,
        diagnosis_codes=["S0990XA", "R519"],
        lines=lines,
    )


ERISA_PLAN = claims_pb2.Plan(name="Acme Corp Employee Plan",
                         funding=claims_pb2.PLAN_FUNDING_SELF_FUNDED_ERISA, situs_state="PA")


async def bulk_import(channel: grpc.aio.Channel, run_id: str, count: int = BULK_CLAIMS) -> None:
    stub = ClaimsServiceStub(channel)
    dos = date.today() - timedelta(days=30)
    started = time.perf_counter()
    imported = 0
    for offset in range(0, count, BULK_BATCH):
        items = [
            claims_pb2.ImportItem(claim=_ed_claim(f"BULK-{run_id}-{i:05d}", dos, ERISA_PLAN))
            for i in range(offset, min(offset + BULK_BATCH, count))
        ]
        reply = await stub.ImportClaims(
            claims_pb2.ImportClaimsRequest(request_id=f"bulk-{run_id}-{offset}", items=items),
            timeout=120,
        )
        imported += reply.created_count + reply.existing_count
        print(f"  bulk import: {imported:>5}/{count} claims committed "
              f"({reply.rejected_count} rejected)", flush=True)
    elapsed = time.perf_counter() - started
    print(f"  bulk import: {count} claims in {elapsed:.1f} s "
          f"({count / elapsed:,.0f} claims/s through the gateway)", flush=True)


async def federal_claim_adjudicated_months_ago(channel: grpc.aio.Channel, run_id: str) -> str:
    """A claim old enough that its open-negotiation period has ended (for the IDR walk-through)."""
    stub = ClaimsServiceStub(channel)
    received = date.today() - timedelta(days=120)
    dos = received - timedelta(days=25)
    claim = (await stub.RegisterClaim(claims_pb2.RegisterClaimRequest(
        request_id=f"demo-idr-{run_id}",
        claim=_ed_claim(f"DEMO-ED-IDR-{run_id}", dos, ERISA_PLAN)))).claim
    await stub.RecordAdjudication(claims_pb2.RecordAdjudicationRequest(
        request_id=f"demo-idr-{run_id}-adj", claim_id=claim.claim_id,
        adjudication=claims_pb2.Adjudication(
            received_date=received.isoformat(), billed_cents=249_000, allowed_cents=61_000,
            paid_cents=48_800, patient_responsibility_cents=12_200, qpa_cents=61_000,
            qpa_disclosed=True, carc_codes=["45", "2"],
            payer_claim_control_number=f"EHP-{run_id}-IDR")))
    await stub.TriageClaim(claims_pb2.TriageClaimRequest(request_id=f"demo-idr-{run_id}-triage",
                                                     claim_id=claim.claim_id))
    print(f"  claims: registered, adjudicated ({received}) and triaged {claim.claim_id} "
          "(federal IDR route)")
    return str(claim.claim_id)


async def _claim_facts(channel: grpc.aio.Channel, claim_id: str) -> Any:
    from deploy.local.demo.settlement import DemoClaim
    from services.x12.writer_835 import LineSpec

    claim = (await ClaimsServiceStub(channel).GetClaim(
        claims_pb2.GetClaimRequest(claim_id=claim_id))).claim
    lines = tuple(
        LineSpec(line.procedure_code, line.billed_cents, 0, modifiers=tuple(line.modifiers),
                 line_control_number=line.line_control_number,
                 service_date=date.fromisoformat(line.service_date))
        for line in claim.input.lines
    )  # the payer echoes each 837 line (REF*6R) in its 835
    return DemoClaim(
        claim_id=claim_id,
        patient_control_number=claim.input.patient_control_number,
        charge_cents=claim.total_billed_cents,
        service_date=date.fromisoformat(claim.input.lines[0].service_date),
        payer_claim_control_number=claim.adjudication.payer_claim_control_number,
        lines=lines,
    )


def bulk_size(env: Mapping[str, str]) -> int:
    text = env.get("OON_DEMO_CLAIMS") or str(BULK_CLAIMS)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"OON_DEMO_CLAIMS must be a whole number of claims, not {text!r}")
    return int(text)


async def run_demo(addresses: Mapping[str, str], env: Mapping[str, str]) -> None:
    from deploy.local.demo import fees as fees_demo
    from deploy.local.demo.claims import seed_claims
    from deploy.local.demo.ledger import audit_claim
    from deploy.local.demo.negotiation import negotiate_to_agreement, take_through_idr
    from deploy.local.demo.settlement import pay_negotiated_claims
    from gateway.demo import create_demo_key, first_calls

    run_id = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
    tenant = f"{TENANT_PREFIX}-{run_id}"  # a fresh demo client: nothing left from earlier runs
    bulk_claims = bulk_size(env)
    token = await create_demo_key(env["DATABASE_URL"], env.get("OON_NAMESPACE", ""), tenant)
    auth = (("authorization", f"Bearer {token}"),)
    channel = grpc.aio.insecure_channel(addresses["gateway"],
                                        interceptors=[_WithMetadata(auth)])
    out: Callable[[str], None] = lambda line: print(line, flush=True)  # noqa: E731
    try:
        _banner(f"partner API key issued for tenant {tenant} (all roles); every call below "
                f"goes through the gateway at {addresses['gateway']}")
        _banner("1. bulk claim import")
        await bulk_import(channel, run_id, bulk_claims)

        _banner("2. claims: registration, adjudication, triage, resubmission, appeal")
        seeded = await seed_claims(channel, ())
        agreed_claim = seeded[0]
        idr_claim = await federal_claim_adjudicated_months_ago(channel, run_id)
        http = f"http://127.0.0.1:{env.get('GATEWAY_HTTP_PORT', '8080')}"
        grpc_status, json_body = await first_calls(channel, http, token, agreed_claim)
        json_claim = json_body.get("claim")
        json_status = json_claim.get("status", "?") if isinstance(json_claim, dict) else "?"
        print(f"  partner's first call: GetClaim over gRPC → {grpc_status}; over JSON → "
              f"status {json_status}")

        _banner("3. fee schedule for the provider client")
        version = await fees_demo.publish_demo_schedule(channel, tenant, CLIENT_ID)
        print(f"  fees: schedule version {version} in force for {CLIENT_ID}")

        _banner("4. open negotiation → agreement (with provider approval)")
        await negotiate_to_agreement(channel, tenant, agreed_claim, out)
        _banner("5. federal IDR → determination")
        await take_through_idr(channel, tenant, idr_claim, out)

        _banner("6. the payer's 835 remittance is posted")
        facts = [await _claim_facts(channel, c) for c in (agreed_claim, idr_claim)]
        await pay_negotiated_claims(channel, tenant, facts, show=out)

        _banner("7. contingency fees, assessed automatically, and the client's ROI")
        year = date.today().year
        await fees_demo.print_fees(channel, tenant, CLIENT_ID, [agreed_claim, idr_claim],
                                   f"{year}-01-01", f"{year}-12-31", out=out)

        _banner("8. an auditor replays and verifies the negotiated claim")
        verified = await audit_claim(channel, tenant, agreed_claim, out, api_key=token)
        print(f"\n  audit verification: {'PASSED' if verified else 'FAILED'}")
        if not verified:
            raise RuntimeError("the audit ledger did not verify the demo claim")
    finally:
        await channel.close()
    print(f"\ndemo run {run_id} done.")
