"""`make run` demo: register and triage a few realistic claims, printing one line per step.

`await seed_claims(channel, tenant_metadata)` → the claim ids it created (idempotent: running
it again with the same tenant on the same day finds the same claims; the claims' dates follow
today, so another day's run is another set of requests, with request ids of that day).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import grpc

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub

ROUTES = {v: k.removeprefix("ROUTE_") for k, v in pb.Route.items()}
STATUSES = {v: k.removeprefix("CLAIM_STATUS_") for k, v in pb.ClaimStatus.items()}
REMEDIES = {v: k.removeprefix("REMEDY_") for k, v in pb.Remedy.items()}
BILLING = pb.Provider(
    name="Metro Emergency Physicians",
    npi="1234567893",
    tin="12-3456789",
    address=pb.Address(
        line1="1200 Market St", city="Philadelphia", state="PA", postal_code="191072101"
    ),
)



def _request_id(name: str) -> str:
    """The demo's request ids are the day's: its claims' dates follow today (a request id names
    one request; the same id with other dates would be refused as reused)."""
    return f"demo-{date.today().isoformat()}-{name}"

def _claim(
    pcn: str,
    dos: date,
    plan: pb.Plan,
    lines: list[pb.ServiceLine],
    state: str = "PA",
    emergency: bool = True,
) -> pb.ClaimInput:
    for line in lines:
        line.service_date = dos.isoformat()
    return pb.ClaimInput(
        client_id="metro-ed-group",
        claim_type=pb.CLAIM_TYPE_PROFESSIONAL,
        patient_control_number=pcn,
        provider=BILLING,
        patient=pb.Patient(
            first_name="Jane",
            last_name="Roe",
            birth_date="1980-04-02",
            member_id="W123456789",
            gender="F",
        ),
        payer=pb.Payer(payer_id="87726", name="Example Health Plan"),
        plan=plan,
        facility=pb.Facility(
            name="Mercy General",
            npi="1245319599",
            network_status=pb.NETWORK_STATUS_IN_NETWORK,
            state=state,
        ),
        emergency=emergency,
        diagnosis_codes=["S0990XA", "R519"],
        lines=lines,
    )


def _ed_visit(modifiers: Sequence[str] = ("25",)) -> list[pb.ServiceLine]:
    return [
        pb.ServiceLine(
            procedure_code="99285",
            modifiers=list(modifiers),
            units=1,
            billed_cents=185_000,
            place_of_service="23",
            diagnosis_pointers=[1, 2],
        ),
        pb.ServiceLine(
            procedure_code="12002",
            units=1,
            billed_cents=64_000,
            place_of_service="23",
            diagnosis_pointers=[1],
        ),
    ]


async def seed_claims(
    channel: grpc.aio.Channel, tenant_metadata: Sequence[tuple[str, str]]
) -> list[str]:
    stub = ClaimsServiceStub(channel)
    md = tuple(tenant_metadata)
    today = date.today()
    dos, received = today - timedelta(days=40), today - timedelta(days=12)
    ids: list[str] = []

    async def register(step: str, claim: pb.ClaimInput) -> pb.Claim:
        response = await stub.RegisterClaim(
            pb.RegisterClaimRequest(request_id=_request_id(str(step)), claim=claim), metadata=md
        )
        ids.append(response.claim.claim_id)
        verb = "registered" if response.created else "found"
        print(
            f"  claims: {verb} {claim.patient_control_number} "
            f"(${response.claim.total_billed_cents / 100:,.2f}) → {response.claim.claim_id}"
        )
        return response.claim

    async def triage(step: str, claim_id: str) -> None:
        t = (
            await stub.TriageClaim(
                pb.TriageClaimRequest(request_id=_request_id(f"{step}-triage"), claim_id=claim_id),
                metadata=md,
            )
        ).triage
        reasons = ", ".join(r.code for r in t.reasons)
        print(
            f"  claims: triaged → {ROUTES[t.route]}, NSA-protected={t.nsa_protected}, "
            f"worth negotiating={t.worth_negotiating} [{reasons}]"
        )

    async def adjudicate(step: str, claim_id: str, adj: pb.Adjudication) -> pb.Claim:
        claim = (
            await stub.RecordAdjudication(
                pb.RecordAdjudicationRequest(
                    request_id=_request_id(f"{step}-adj"), claim_id=claim_id, adjudication=adj
                ),
                metadata=md,
            )
        ).claim
        remedies = ", ".join(f"{r.code}→{REMEDIES[r.remedy]}" for r in claim.denial_remedies)
        print(
            f"  claims: payer adjudicated: paid ${adj.paid_cents / 100:,.2f}, status "
            f"{STATUSES[claim.status]} [{remedies}]"
        )
        return claim

    # 1. Emergency visit, self-funded ERISA plan not opted in to PA law: federal IDR.
    print("claims demo 1/4: emergency claim on a self-funded ERISA plan")
    erisa = pb.Plan(
        name="Acme Corp Employee Plan", funding=pb.PLAN_FUNDING_SELF_FUNDED_ERISA, situs_state="PA"
    )
    c1 = await register("ed-federal", _claim("DEMO-ED-1001", dos, erisa, _ed_visit()))
    await adjudicate(
        "ed-federal",
        c1.claim_id,
        pb.Adjudication(
            received_date=received.isoformat(),
            billed_cents=249_000,
            allowed_cents=61_000,
            paid_cents=48_800,
            patient_responsibility_cents=12_200,
            qpa_cents=61_000,
            qpa_disclosed=True,
            carc_codes=["45", "2"],
            rarc_codes=["N830"],
            payer_claim_control_number="EHP-26-771001",
        ),
    )
    await triage("ed-federal", c1.claim_id)

    # 2. Fully insured plan sitused in New York: the state's IDR process.
    print("claims demo 2/4: emergency claim on a fully insured New York plan")
    ny = pb.Plan(name="Empire Gold PPO", funding=pb.PLAN_FUNDING_FULLY_INSURED, situs_state="NY")
    c2 = await register("ed-state", _claim("DEMO-ED-1002", dos, ny, _ed_visit(), state="NY"))
    await triage("ed-state", c2.claim_id)

    # 3. Denied for a missing modifier (CARC 4), fixed with a replacement claim.
    print("claims demo 3/4: denied claim fixed by a corrected claim (frequency 7)")
    c3 = await register("denied-fix", _claim("DEMO-ED-1003", dos, erisa, _ed_visit(())))
    await adjudicate(
        "denied-fix",
        c3.claim_id,
        pb.Adjudication(
            received_date=received.isoformat(),
            billed_cents=249_000,
            denied=True,
            carc_codes=["4"],
            payer_claim_control_number="EHP-26-771003",
        ),
    )
    corrected = (
        await stub.SubmitCorrectedClaim(
            pb.SubmitCorrectedClaimRequest(
                request_id=_request_id("denied-fix-correct"),
                original_claim_id=c3.claim_id,
                frequency=pb.FREQUENCY_CODE_REPLACEMENT,
                reason="add modifier 25 to the E/M line",
                corrected=_claim("DEMO-ED-1003", dos, erisa, _ed_visit()),
            ),
            metadata=md,
        )
    ).corrected
    ids.append(corrected.claim_id)
    print(f"  claims: replacement {corrected.claim_id} changed {list(corrected.changed_fields)}")
    report = (
        await stub.CheckCleanClaim(
            pb.CheckCleanClaimRequest(
                request_id=_request_id("denied-fix-clean"), claim_id=corrected.claim_id
            ),
            metadata=md,
        )
    ).report
    print(f"  claims: clean-claim check ({report.rule_set_version}): clean={report.clean}")
    exported = await stub.Export837(
        pb.Export837Request(
            claim_id=corrected.claim_id,
            sender_id="METROEDPHYS",
            receiver_id="87726",
            submitter_contact_name="Billing Office",
            submitter_contact_phone="2155550100",
        ),
        metadata=md,
    )
    print(
        f"  claims: exported {exported.implementation_guide} "
        f"({exported.x12.count('~')} segments, REF*F8 → original claim number)"
    )
    await adjudicate(
        "denied-fix-2",
        corrected.claim_id,
        pb.Adjudication(
            received_date=today.isoformat(),
            billed_cents=249_000,
            allowed_cents=70_000,
            paid_cents=56_000,
            patient_responsibility_cents=14_000,
            carc_codes=["45", "2"],
            payer_claim_control_number="EHP-26-771093",
        ),
    )

    # 4. Denied as not medically necessary (CARC 50): appealed with records, denial upheld.
    print("claims demo 4/4: medical-necessity denial taken to appeal")
    c4 = await register("appeal", _claim("DEMO-ED-1004", dos, erisa, _ed_visit()))
    await adjudicate(
        "appeal",
        c4.claim_id,
        pb.Adjudication(
            received_date=received.isoformat(),
            billed_cents=249_000,
            denied=True,
            carc_codes=["50"],
            payer_claim_control_number="EHP-26-771004",
        ),
    )
    doc = await stub.AttachDocument(
        pb.AttachDocumentRequest(
            request_id=_request_id("appeal-doc"),
            claim_id=c4.claim_id,
            kind=pb.DOCUMENT_KIND_MEDICAL_RECORDS,
            sha256="5e" * 32,
            location="s3://oon-docs/metro-ed/DEMO-ED-1004/ed-record.pdf",
            size_bytes=482_113,
        ),
        metadata=md,
    )
    appeal = (
        await stub.FileAppeal(
            pb.FileAppealRequest(
                request_id=_request_id("appeal-file"),
                claim_id=c4.claim_id,
                level=pb.APPEAL_LEVEL_FIRST_INTERNAL,
                grounds="Chest pain with head injury: prudent layperson standard met",
                cited_document_ids=[doc.document_id],
                channel=pb.APPEAL_CHANNEL_PORTAL,
            ),
            metadata=md,
        )
    ).appeal
    print(f"  claims: appeal filed, deadline {appeal.deadline} ({appeal.window_rule})")
    decided = (
        await stub.RecordAppealDecision(
            pb.RecordAppealDecisionRequest(
                request_id=_request_id("appeal-decision"),
                claim_id=c4.claim_id,
                appeal_id=appeal.appeal_id,
                outcome=pb.APPEAL_OUTCOME_UPHELD,
                decision_date=today.isoformat(),
            ),
            metadata=md,
        )
    ).claim
    t = decided.triage
    print(
        f"  claims: appeal upheld → status {STATUSES[decided.status]}; re-triaged "
        f"{ROUTES[t.route]}, worth negotiating={t.worth_negotiating}"
    )
    return ids
