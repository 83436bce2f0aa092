"""ClaimsService servicer: thin — read the request, call one use case, map the result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1 import claims_pb2_grpc
from services.claims import mapping, x12_export, x12_import
from services.claims.application import ClaimsApplication, ImportOutcome
from services.claims.model import ClaimData
from services.claims.projections import ClaimsReadModel
from services.common.context import CommandContext
from services.common.errors import FailedPrecondition, FieldViolation, InvalidArgument
from services.common.grpc_server import Blocking, rpc

MAX_IMPORT_ITEMS = 50_000
MAX_X12_BYTES = 20 * 1024 * 1024

WORK_KINDS = {
    "blocking_findings": pb.WORK_ITEM_KIND_BLOCKING_FINDINGS,
    "awaiting_adjudication": pb.WORK_ITEM_KIND_AWAITING_ADJUDICATION,
    "appeal_due": pb.WORK_ITEM_KIND_APPEAL_DUE,
}


class ClaimsServicer(claims_pb2_grpc.ClaimsServiceServicer):
    def __init__(self, app: ClaimsApplication, blocking: Blocking, read_model: ClaimsReadModel):
        self.app = app
        self.blocking = blocking
        self.read_model = read_model

    @rpc
    async def RegisterClaim(
        self, request: pb.RegisterClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.RegisterClaimResponse:
        data = mapping.claim_data(request.claim)
        claim, created = await self.blocking(self.app.register_claim, ctx, data)
        return pb.RegisterClaimResponse(claim=mapping.claim_message(claim), created=created)

    @rpc
    async def ImportClaims(
        self, request: pb.ImportClaimsRequest, ctx: CommandContext, context: Any
    ) -> pb.ImportClaimsResponse:
        if len(request.items) > MAX_IMPORT_ITEMS:
            raise InvalidArgument(f"at most {MAX_IMPORT_ITEMS} claims per call", "items")
        outcomes = await self.blocking(_import_items, self.app, ctx, request.items)
        return await self.blocking(_import_response, outcomes)

    @rpc
    async def Import837(
        self, request: pb.Import837Request, ctx: CommandContext, context: Any
    ) -> pb.Import837Response:
        if not request.client_id.strip():
            raise InvalidArgument("required", "client_id")
        if len(request.x12.encode()) > MAX_X12_BYTES:
            raise InvalidArgument(f"at most {MAX_X12_BYTES} bytes per file", "x12")
        plan, facility = mapping.plan_facts(request.plan, request.facility)
        parsed = await self.blocking(
            x12_import.read_837, request.x12, request.client_id.strip(), plan, facility
        )
        items: list[tuple[str, ClaimData | InvalidArgument]] = []
        for c in parsed:
            read = c.data if c.data is not None else c.error
            if read is not None:
                items.append((f"{ctx.request_id}:{c.location}", read))
        outcomes = await self.blocking(self.app.import_claims, ctx, items)
        return pb.Import837Response(
            **{"import": _import_response(outcomes)}, locations=[c.location for c in parsed]
        )

    @rpc
    async def GetClaim(
        self, request: pb.GetClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.GetClaimResponse:
        claim = await self.blocking(self.app.get_claim, ctx, request.claim_id)
        return pb.GetClaimResponse(claim=mapping.claim_message(claim))

    @rpc
    async def ListClaims(
        self, request: pb.ListClaimsRequest, ctx: CommandContext, context: Any
    ) -> pb.ListClaimsResponse:
        rows, token = await self.read_model.list_claims(
            ctx.tenant_id, mapping.list_filters(request)
        )
        return pb.ListClaimsResponse(
            claims=[
                pb.ClaimSummary(
                    claim_id=str(r.claim_id),
                    client_id=r.client_id,
                    payer_id=r.payer_id,
                    patient_control_number=r.patient_control_number,
                    status=mapping.STATUS[mapping.ClaimStatus(r.status)],
                    route=mapping.ROUTE[mapping.Route(r.route)] if r.route else 0,
                    nsa_protected=r.nsa_protected,
                    total_billed_cents=r.total_billed_cents,
                    paid_cents=r.paid_cents,
                    first_service_date=r.first_service_date.isoformat(),
                    version=r.version,
                )
                for r in rows
            ],
            next_page_token=token,
        )

    @rpc
    async def RecordAdjudication(
        self, request: pb.RecordAdjudicationRequest, ctx: CommandContext, context: Any
    ) -> pb.RecordAdjudicationResponse:
        adjudication = mapping.adjudication(request.adjudication)
        claim = await self.blocking(
            self.app.record_adjudication,
            ctx,
            request.claim_id,
            adjudication,
            request.expected_version,
        )
        return pb.RecordAdjudicationResponse(claim=mapping.claim_message(claim))

    @rpc
    async def AttachDocument(
        self, request: pb.AttachDocumentRequest, ctx: CommandContext, context: Any
    ) -> pb.AttachDocumentResponse:
        kind = mapping.document_kind(request.kind)
        claim, document_id = await self.blocking(
            self.app.attach_document,
            ctx,
            request.claim_id,
            kind,
            request.sha256,
            request.location,
            request.size_bytes,
            request.expected_version,
        )
        return pb.AttachDocumentResponse(
            claim=mapping.claim_message(claim), document_id=document_id
        )

    @rpc
    async def TriageClaim(
        self, request: pb.TriageClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.TriageClaimResponse:
        policy = mapping.triage_policy(request.policy)
        claim, decision = await self.blocking(
            self.app.triage_claim, ctx, request.claim_id, policy, request.expected_version
        )
        return pb.TriageClaimResponse(
            claim=mapping.claim_message(claim),
            triage=mapping.triage_message(decision, claim.triaged_at),
        )

    @rpc
    async def CheckCleanClaim(
        self, request: pb.CheckCleanClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.CheckCleanClaimResponse:
        claim, report = await self.blocking(
            self.app.check_clean_claim, ctx, request.claim_id, request.expected_version
        )
        return pb.CheckCleanClaimResponse(
            claim=mapping.claim_message(claim), report=mapping.clean_report(report)
        )

    @rpc
    async def SubmitCorrectedClaim(
        self, request: pb.SubmitCorrectedClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.SubmitCorrectedClaimResponse:
        frequency = mapping.frequency(request.frequency)
        corrected = (
            mapping.claim_data(request.corrected, "corrected.")
            if request.HasField("corrected")
            else None
        )
        original, replacement = await self.blocking(
            self.app.submit_corrected_claim,
            ctx,
            request.original_claim_id,
            frequency,
            corrected,
            request.reason,
            request.expected_version,
        )
        return pb.SubmitCorrectedClaimResponse(
            original=mapping.claim_message(original), corrected=mapping.claim_message(replacement)
        )

    @rpc
    async def FileAppeal(
        self, request: pb.FileAppealRequest, ctx: CommandContext, context: Any
    ) -> pb.FileAppealResponse:
        level, channel, adverse = mapping.appeal_request(request)
        claim, record = await self.blocking(
            self.app.file_appeal,
            ctx,
            request.claim_id,
            level,
            request.grounds,
            tuple(request.cited_document_ids),
            channel,
            adverse,
            request.expected_version,
        )
        return pb.FileAppealResponse(
            claim=mapping.claim_message(claim), appeal=mapping.appeal(record)
        )

    @rpc
    async def RecordAppealDecision(
        self, request: pb.RecordAppealDecisionRequest, ctx: CommandContext, context: Any
    ) -> pb.RecordAppealDecisionResponse:
        outcome, decided = mapping.appeal_decision(request)
        claim, record = await self.blocking(
            self.app.record_appeal_decision,
            ctx,
            request.claim_id,
            request.appeal_id,
            outcome,
            decided,
            request.additional_paid_cents,
            request.expected_version,
        )
        return pb.RecordAppealDecisionResponse(
            claim=mapping.claim_message(claim), appeal=mapping.appeal(record)
        )

    @rpc
    async def Export837(
        self, request: pb.Export837Request, ctx: CommandContext, context: Any
    ) -> pb.Export837Response:
        claim = await self.blocking(self.app.get_claim, ctx, request.claim_id)
        if claim.clean_report is None or not claim.clean_report.clean:
            raise FailedPrecondition(
                "only a clean claim can be exported: run CheckCleanClaim and fix blocking findings"
            )
        contact = request.submitter_contact_name.strip()
        phone = "".join(ch for ch in request.submitter_contact_phone if ch.isdigit())
        missing = [
            FieldViolation(name, "required by the 837 (loop 1000A PER)")
            for name, value in (
                ("submitter_contact_name", contact),
                ("submitter_contact_phone", phone),
            )
            if not value
        ]
        if missing:
            raise InvalidArgument(missing)
        exported = await self.blocking(
            x12_export.export_837,
            claim.data,
            claim.frequency,
            claim.original_payer_claim_control_number,
            request.sender_id.strip() or "OONLEDGER",
            request.receiver_id.strip() or "PAYER",
            contact,
            phone,
            ctx.now,
        )
        return pb.Export837Response(
            x12=exported.text, implementation_guide=exported.implementation_guide
        )

    @rpc
    async def ClaimsWorkQueue(
        self, request: pb.ClaimsWorkQueueRequest, ctx: CommandContext, context: Any
    ) -> pb.ClaimsWorkQueueResponse:
        if not 0 <= request.limit <= 1000:
            raise InvalidArgument("between 1 and 1000 (0 = default 100)", "limit")
        rows = await self.read_model.work_queue(
            ctx.tenant_id, request.client_id.strip(), request.limit or 100
        )
        return pb.ClaimsWorkQueueResponse(
            items=[
                pb.WorkItem(
                    kind=WORK_KINDS[r.kind],
                    claim_id=str(r.claim_id),
                    patient_control_number=r.patient_control_number,
                    detail=r.detail,
                    due_date=r.due.isoformat() if r.due else "",
                )
                for r in rows
            ]
        )


def _import_items(
    app: ClaimsApplication, ctx: CommandContext, request_items: Sequence[pb.ImportItem]
) -> list[ImportOutcome]:
    """Read and register the items in a worker thread (bulk mapping would stall the loop)."""
    items: list[tuple[str, ClaimData | InvalidArgument]] = []
    for index, item in enumerate(request_items):
        request_id = item.request_id.strip() or f"{ctx.request_id}:{index}"
        try:
            items.append((request_id, mapping.claim_data(item.claim, f"items[{index}].claim.")))
        except InvalidArgument as exc:
            items.append((request_id, exc))
    return app.import_claims(ctx, items)


def _import_response(outcomes: list[ImportOutcome]) -> pb.ImportClaimsResponse:
    results = [
        pb.ImportResult(
            index=o.index,
            claim_id=o.claim_id,
            created=o.created,
            errors=[pb.FieldError(field=e.field, description=e.description) for e in o.errors],
        )
        for o in outcomes
    ]
    created = sum(1 for o in outcomes if o.created)
    rejected = sum(1 for o in outcomes if o.errors)
    return pb.ImportClaimsResponse(
        results=results,
        created_count=created,
        existing_count=len(outcomes) - created - rejected,
        rejected_count=rejected,
    )
