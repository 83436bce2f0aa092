"""NegotiationService over gRPC: a thin servicer — request -> command (mapping.py) ->
application -> response (mapping.py). Roles are checked by the application (and, where a rule
depends on the data, by the domain)."""

from __future__ import annotations

from typing import Any

from oonledger.negotiation.v1 import negotiation_pb2 as pb
from oonledger.negotiation.v1 import negotiation_pb2_grpc
from services.common.context import CommandContext
from services.common.grpc_server import Blocking, rpc
from services.negotiation.adapters import compliance_csv, compliance_mapping, mapping
from services.negotiation.adapters.escalation_sweep import EscalationSweep
from services.negotiation.adapters.projections import WorkQueue
from services.negotiation.application import Case, NegotiationApplication


class NegotiationServicer(negotiation_pb2_grpc.NegotiationServiceServicer):
    def __init__(
        self,
        app: NegotiationApplication,
        blocking: Blocking,
        work_queue: WorkQueue,
        escalations: EscalationSweep,
    ) -> None:
        self.app = app
        self.blocking = blocking
        self.work_queue = work_queue
        self.escalations = escalations

    def _response(self, case: Case) -> pb.NegotiationResponse:
        return mapping.negotiation_response(case, self.app.engine, self.app.alternate_engine)

    async def _run(
        self, use_case: Any, ctx: CommandContext, command: Any
    ) -> pb.NegotiationResponse:
        return self._response(await self.blocking(use_case, ctx, command))

    @rpc
    async def OpenNegotiation(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._run(self.app.open_negotiation, ctx, mapping.opening_facts(request))

    @rpc
    async def SendOpenNegotiationNotice(
        self, request: Any, ctx: CommandContext, context: Any
    ) -> Any:
        return await self._run(self.app.send_notice, ctx, mapping.send_notice(request))

    @rpc
    async def RecordPayerResponse(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._run(self.app.record_payer_response, ctx, mapping.payer_response(request))

    @rpc
    async def MakeOffer(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        command = mapping.make_offer(request, ctx.request_id)
        case = await self.blocking(self.app.make_offer, ctx, command)
        return mapping.make_offer_response(case, command.offer.offer_id)

    @rpc
    async def ProposeDecision(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        command = mapping.propose_decision(request, ctx.request_id)
        return await self._run(self.app.propose_decision, ctx, command)

    @rpc
    async def ApproveDecision(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._run(self.app.approve_decision, ctx, mapping.approve_decision(request))

    @rpc
    async def RejectDecision(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._run(self.app.reject_decision, ctx, mapping.reject_decision(request))

    @rpc
    async def AssignNegotiation(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._run(self.app.assign, ctx, mapping.assign(request))

    @rpc
    async def ExtendDeadline(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._run(self.app.extend_deadline, ctx, mapping.extend_deadline(request))

    @rpc
    async def InitiateIdr(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        case = await self.blocking(self.app.initiate_idr, ctx, mapping.initiate_idr(request))
        return mapping.initiate_idr_response(case, self.app.engine, self.app.alternate_engine)

    @rpc
    async def SelectIdre(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._run(self.app.select_idre, ctx, mapping.select_idre(request))

    @rpc
    async def RecordIdrEligibility(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        command = mapping.record_eligibility(request)
        return await self._run(self.app.record_eligibility, ctx, command)

    @rpc
    async def SubmitIdrOffer(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._run(self.app.submit_idr_offer, ctx, mapping.submit_idr_offer(request))

    @rpc
    async def RecordIdrFee(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._run(self.app.record_idr_fee, ctx, mapping.record_idr_fee(request))

    @rpc
    async def RecordIdrDetermination(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        command = mapping.record_determination(request)
        return await self._run(self.app.record_determination, ctx, command)

    @rpc
    async def CloseIdrWithoutOffers(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        command = mapping.close_without_offers(request)
        return await self._run(self.app.close_without_offers, ctx, command)

    @rpc
    async def GetNegotiation(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        case = await self.blocking(self.app.case, ctx, request.negotiation_id)
        return self._response(case)

    @rpc
    async def ListWorkQueue(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        due = mapping.work_queue_due(request)
        items = await self.work_queue.list(
            ctx.tenant_id,
            assignee=request.assignee,
            status=request.status,
            due_on_or_before=due,
            limit=request.page_size or 100,
        )
        return mapping.work_queue_to_proto(items)

    @rpc
    async def SetClientPolicy(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        policy = await self.blocking(self.app.set_policy, ctx, mapping.client_policy(request))
        return mapping.policy_response(policy.version)

    @rpc
    async def EscalateDueDeadlines(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        as_of = mapping.escalation_as_of(request, ctx.eastern_today)
        raised = await self.escalations.sweep(ctx, as_of)
        return mapping.escalation_response(raised)

    @rpc
    async def SuggestOffer(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        query = mapping.suggestion_query(request)
        suggestion = await self.blocking(self.app.suggest, ctx, request.negotiation_id, query)
        return mapping.suggestion_to_proto(suggestion)

    @rpc
    async def GetComplianceReport(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        as_of = compliance_mapping.compliance_as_of(request, ctx.eastern_today)
        report = await self.blocking(self.app.compliance, ctx, request.negotiation_id, as_of)
        return compliance_mapping.compliance_response(report)

    @rpc
    async def GetComplianceReportCsv(
        self, request: Any, ctx: CommandContext, context: Any
    ) -> Any:
        as_of = compliance_mapping.compliance_as_of(request, ctx.eastern_today)
        ids = await self.work_queue.negotiation_ids(ctx.tenant_id)
        reports = [await self.blocking(self.app.compliance, ctx, nid, as_of) for nid in ids]
        return compliance_mapping.compliance_csv_response(*compliance_csv.render(reports))
