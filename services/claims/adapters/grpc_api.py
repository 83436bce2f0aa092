"""ClaimsService servicer: thin — read the request into a command (mapping), run one use case
(application), map the result (mapping). No proto message is built here."""

from __future__ import annotations

from typing import Any

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1 import claims_pb2_grpc
from services.claims.adapters import commands, mapping, x12
from services.claims.adapters.control_numbers import ControlNumberCounter
from services.claims.adapters.sql import ClaimsQueries
from services.claims.application import ClaimsApplication
from services.common.context import CommandContext
from services.common.errors import InvalidArgument
from services.common.grpc_server import Blocking, rpc
from services.common.import_jobs import ImportJobs
from services.common.import_jobs.servicer import ImportJobMethods

MAX_IMPORT_ITEMS = 50_000
MAX_X12_BYTES = 20 * 1024 * 1024


class ClaimsServicer(ImportJobMethods, claims_pb2_grpc.ClaimsServiceServicer):
    job_messages = pb

    def __init__(
        self,
        app: ClaimsApplication,
        blocking: Blocking,
        queries: ClaimsQueries,
        control_numbers: ControlNumberCounter,
        imports: ImportJobs,
    ):
        self.app = app
        self.blocking = blocking
        self.queries = queries
        self.control_numbers = control_numbers
        self.imports = imports

    @rpc
    async def RegisterClaim(
        self, request: pb.RegisterClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.RegisterClaimResponse:
        command = commands.register_claim(request)
        claim, created = await self.blocking(self.app.register_claim, ctx, command)
        return mapping.registered(claim, created)

    @rpc
    async def ImportClaims(
        self, request: pb.ImportClaimsRequest, ctx: CommandContext, context: Any
    ) -> pb.ImportClaimsResponse:
        if len(request.items) > MAX_IMPORT_ITEMS:
            raise InvalidArgument(f"at most {MAX_IMPORT_ITEMS} claims per call", "items")
        # Read and register in a worker thread (bulk mapping would stall the event loop).
        command = await self.blocking(commands.import_claims, ctx.request_id, request.items)
        outcomes = await self.blocking(self.app.import_claims, ctx, command)
        return await self.blocking(mapping.import_response, outcomes)

    @rpc
    async def Import837(
        self, request: pb.Import837Request, ctx: CommandContext, context: Any
    ) -> pb.Import837Response:
        stated = commands.read_837_request(request, MAX_X12_BYTES)
        parsed = await self.blocking(
            x12.read_837_file, request.x12, stated.client_id, stated.plan, stated.facility
        )
        candidates = await self.queries.claims_by_pcn(
            ctx.tenant_id, commands.correction_pcns(parsed.claims))
        command = commands.imported_837(ctx.request_id, parsed.claims, candidates)
        outcomes = await self.blocking(self.app.import_claims, ctx, command)
        return mapping.import_837_response(outcomes, parsed)

    # -- import jobs (services/common/import_jobs; the other job RPCs: ImportJobMethods) -------
    @rpc
    async def StartImport(
        self, request: pb.StartImportRequest, ctx: CommandContext, context: Any
    ) -> pb.StartImportResponse:
        commands.read_start_import(request)  # refuse bad plan facts now, not after the upload
        params = pb.StartImportRequest()
        params.CopyFrom(request)
        params.request_id = ""
        response: pb.StartImportResponse = await self.start_import(ctx, request, params)
        return response

    @rpc
    async def GetClaim(
        self, request: pb.GetClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.GetClaimResponse:
        claim = await self.blocking(self.app.get_claim, ctx, request.claim_id)
        return mapping.got_claim(claim)

    @rpc
    async def ListClaims(
        self, request: pb.ListClaimsRequest, ctx: CommandContext, context: Any
    ) -> pb.ListClaimsResponse:
        rows, token = await self.queries.list_claims(ctx.tenant_id, commands.list_filters(request))
        return mapping.claims_page(rows, token)

    @rpc
    async def RecordAdjudication(
        self, request: pb.RecordAdjudicationRequest, ctx: CommandContext, context: Any
    ) -> pb.RecordAdjudicationResponse:
        command = commands.record_adjudication(request)
        claim = await self.blocking(self.app.record_adjudication, ctx, command)
        return mapping.adjudication_recorded(claim)

    @rpc
    async def AttachDocument(
        self, request: pb.AttachDocumentRequest, ctx: CommandContext, context: Any
    ) -> pb.AttachDocumentResponse:
        command = commands.attach_document(request)
        claim, document_id = await self.blocking(self.app.attach_document, ctx, command)
        return mapping.document_attached(claim, document_id)

    @rpc
    async def TriageClaim(
        self, request: pb.TriageClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.TriageClaimResponse:
        command = commands.triage_claim(request)
        claim, decision = await self.blocking(self.app.triage_claim, ctx, command)
        return mapping.triaged(claim, decision)

    @rpc
    async def CheckCleanClaim(
        self, request: pb.CheckCleanClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.CheckCleanClaimResponse:
        command = commands.check_clean_claim(request)
        claim, report = await self.blocking(self.app.check_clean_claim, ctx, command)
        return mapping.clean_claim_checked(claim, report)

    @rpc
    async def SubmitCorrectedClaim(
        self, request: pb.SubmitCorrectedClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.SubmitCorrectedClaimResponse:
        command = commands.submit_corrected_claim(request)
        original, replacement = await self.blocking(self.app.submit_corrected_claim, ctx, command)
        return mapping.corrected_claim_submitted(original, replacement)

    @rpc
    async def FileAppeal(
        self, request: pb.FileAppealRequest, ctx: CommandContext, context: Any
    ) -> pb.FileAppealResponse:
        command = commands.file_appeal(request)
        claim, record = await self.blocking(self.app.file_appeal, ctx, command)
        return mapping.appeal_filed(claim, record)

    @rpc
    async def RecordAppealDecision(
        self, request: pb.RecordAppealDecisionRequest, ctx: CommandContext, context: Any
    ) -> pb.RecordAppealDecisionResponse:
        command = commands.record_appeal_decision(request)
        claim, record = await self.blocking(self.app.record_appeal_decision, ctx, command)
        return mapping.appeal_decision_recorded(claim, record)

    @rpc
    async def UpdateClaim(
        self, request: pb.UpdateClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.UpdateClaimResponse:
        command = commands.update_claim(request)
        claim = await self.blocking(self.app.update_claim, ctx, command)
        return mapping.claim_updated(claim)

    @rpc
    async def WithdrawClaim(
        self, request: pb.WithdrawClaimRequest, ctx: CommandContext, context: Any
    ) -> pb.WithdrawClaimResponse:
        command = commands.withdraw_claim(request)
        claim = await self.blocking(self.app.withdraw_claim, ctx, command)
        return mapping.claim_withdrawn(claim)

    @rpc
    async def Export837(
        self, request: pb.Export837Request, ctx: CommandContext, context: Any
    ) -> pb.Export837Response:
        claim = await self.blocking(self.app.claim_to_export, ctx, request.claim_id)
        sender = commands.export_837_request(request)
        control = await self.control_numbers.next(sender.sender_id)
        exported = await self.blocking(
            x12.export_837,
            claim.data,
            claim.frequency,
            claim.original_payer_claim_control_number,
            sender.sender_id,
            sender.receiver_id,
            sender.contact_name,
            sender.contact_phone,
            ctx.now,
            control,
        )
        return mapping.exported_837(exported)

    @rpc
    async def ClaimsWorkQueue(
        self, request: pb.ClaimsWorkQueueRequest, ctx: CommandContext, context: Any
    ) -> pb.ClaimsWorkQueueResponse:
        rows = await self.queries.work_queue(
            ctx.tenant_id, request.client_id.strip(), commands.work_queue_limit(request)
        )
        return mapping.work_queue(rows)
