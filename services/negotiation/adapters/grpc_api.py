"""NegotiationService over gRPC: a thin servicer; conversion in mapping.py, rules in the domain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oonledger.negotiation.v1 import negotiation_pb2 as pb
from oonledger.negotiation.v1 import negotiation_pb2_grpc
from services.common.context import CommandContext
from services.common.errors import PermissionDenied
from services.common.grpc_server import Blocking, rpc
from services.negotiation.adapters import mapping
from services.negotiation.adapters.escalation_sweep import EscalationSweep
from services.negotiation.adapters.projections import WorkQueue
from services.negotiation.application import NegotiationApplication, SuggestionQuery
from services.negotiation.domain.negotiation import Negotiation
from services.negotiation.domain.validation import eastern_date
from services.negotiation.domain.vocabulary import Role

ESCALATION_ROLES = (Role.ADMIN, Role.MANAGER, Role.SUPERVISOR, Role.SYSTEM)


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

    def _response(self, negotiation: Negotiation) -> pb.NegotiationResponse:
        return pb.NegotiationResponse(
            negotiation=mapping.negotiation_to_proto(
                negotiation, self.app.engine, self.app.alternate_engine
            )
        )

    async def _change(
        self, fn: Callable[..., Negotiation], ctx: CommandContext, request: Any, **kw: Any
    ) -> pb.NegotiationResponse:
        negotiation = await self.blocking(fn, ctx, request.negotiation_id, **kw)
        return self._response(negotiation)

    @rpc
    async def OpenNegotiation(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        fields = mapping.open_fields(request)
        negotiation = await self.blocking(self.app.open_negotiation, ctx, **fields)
        return self._response(negotiation)

    @rpc
    async def SendOpenNegotiationNotice(
        self, request: Any, ctx: CommandContext, context: Any
    ) -> Any:
        p = mapping.Parsed()
        sent_on = p.day("sent_on", request.sent_on)
        p.done()
        return await self._change(
            self.app.send_notice,
            ctx,
            request,
            sent_on=sent_on,
            channel=mapping.CHANNELS.get(request.channel, ""),
            portal_reference=request.portal_reference,
        )

    @rpc
    async def RecordPayerResponse(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        received_on = p.day("received_on", request.received_on)
        p.done()
        return await self._change(
            self.app.record_payer_response,
            ctx,
            request,
            received_on=received_on,
            channel=mapping.CHANNELS.get(request.channel, ""),
            summary=request.summary,
        )

    @rpc
    async def MakeOffer(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        fields = mapping.offer_fields(request, ctx.request_id)
        negotiation = await self.blocking(
            self.app.make_offer, ctx, request.negotiation_id, **fields
        )
        made = next(
            (o for o in negotiation.offers if o["offer_id"] == fields["offer_id"]), None
        ) or {"kind": ""}
        return pb.MakeOfferResponse(
            offer_id=fields["offer_id"], kind=made["kind"], version=negotiation.version
        )

    @rpc
    async def ProposeDecision(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        decided_on = p.day("decided_on", request.decided_on, required=False)
        p.done()
        return await self._change(
            self.app.propose_decision,
            ctx,
            request,
            decision_id=request.decision_id or request.request_id or ctx.request_id,
            action=mapping.ACTIONS.get(request.action, ""),
            offer_id=request.offer_id,
            counter_amount_cents=request.counter_amount_cents,
            rationale=request.rationale,
            decided_on=decided_on,
        )

    @rpc
    async def ApproveDecision(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        decided_on = p.day("decided_on", request.decided_on, required=False)
        p.done()
        return await self._change(
            self.app.approve_decision,
            ctx,
            request,
            decision_id=request.decision_id,
            decided_on=decided_on,
        )

    @rpc
    async def RejectDecision(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._change(
            self.app.reject_decision,
            ctx,
            request,
            decision_id=request.decision_id,
            reason=request.reason,
        )

    @rpc
    async def AssignNegotiation(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        return await self._change(self.app.assign, ctx, request, assignee=request.assignee)

    @rpc
    async def ExtendDeadline(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        new_due_on = p.day("new_due_on", request.new_due_on)
        p.done()
        return await self._change(
            self.app.extend_deadline,
            ctx,
            request,
            deadline_code=request.deadline_code,
            new_due_on=new_due_on,
            reason=request.reason,
            reference=request.reference,
        )

    @rpc
    async def InitiateIdr(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        initiated_on = p.day("initiated_on", request.initiated_on)
        p.done()
        negotiations = await self.blocking(
            self.app.initiate_idr,
            ctx,
            request.negotiation_id,
            dispute_number=request.dispute_number,
            initiated_on=initiated_on,
            initiating_party=mapping.PARTIES.get(request.initiating_party, ""),
            batch_negotiation_ids=list(request.batch_negotiation_ids),
            bundled=request.bundled,
        )
        return pb.InitiateIdrResponse(
            negotiations=[
                mapping.negotiation_to_proto(n, self.app.engine, self.app.alternate_engine)
                for n in negotiations
            ]
        )

    @rpc
    async def SelectIdre(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        selected_on = p.day("selected_on", request.selected_on)
        p.done()
        return await self._change(
            self.app.select_idre,
            ctx,
            request,
            idre_id=request.idre_id,
            method=mapping.METHODS.get(request.method, ""),
            selected_on=selected_on,
            idre_fee_cents=request.idre_fee_cents,
        )

    @rpc
    async def RecordIdrEligibility(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        decided_on = p.day("decided_on", request.decided_on)
        p.done()
        return await self._change(
            self.app.record_eligibility,
            ctx,
            request,
            eligible=request.eligible,
            decided_on=decided_on,
            reason=request.reason,
        )

    @rpc
    async def SubmitIdrOffer(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        submitted_on = p.day("submitted_on", request.submitted_on)
        p.done()
        return await self._change(
            self.app.submit_idr_offer,
            ctx,
            request,
            party=mapping.PARTIES.get(request.party, ""),
            amount_cents=request.amount_cents,
            submitted_on=submitted_on,
        )

    @rpc
    async def RecordIdrDetermination(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        determined_on = p.day("determined_on", request.determined_on)
        p.done()
        return await self._change(
            self.app.record_determination,
            ctx,
            request,
            prevailing_party=mapping.PARTIES.get(request.prevailing_party, ""),
            determined_on=determined_on,
        )

    @rpc
    async def CloseIdrWithoutOffers(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        closed_on = p.day("closed_on", request.closed_on)
        p.done()
        return await self._change(self.app.close_without_offers, ctx, request, closed_on=closed_on)

    @rpc
    async def GetNegotiation(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        negotiation = await self.blocking(self.app.negotiation, ctx, request.negotiation_id)
        return self._response(negotiation)

    @rpc
    async def ListWorkQueue(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        p = mapping.Parsed()
        due = p.day("due_on_or_before", request.due_on_or_before, required=False)
        p.violations.check(0 <= request.page_size <= 1000, "page_size", "must be 0..1000")
        p.done()
        items = await self.work_queue.list(
            ctx.tenant_id,
            assignee=request.assignee,
            status=request.status,
            due_on_or_before=due,
            limit=request.page_size or 100,
        )
        return pb.ListWorkQueueResponse(
            items=[
                pb.WorkItem(
                    negotiation_id=i.negotiation_id,
                    claim_id=i.claim_id,
                    status=i.status,
                    assignee=i.assignee,
                    next_deadline_code=i.next_deadline_code,
                    next_deadline_on=i.next_deadline_on.isoformat() if i.next_deadline_on else "",
                    last_offer_cents=i.last_offer_cents,
                )
                for i in items
            ]
        )

    @rpc
    async def SetClientPolicy(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        rules, chain = mapping.policy_fields(request)
        policy = await self.blocking(self.app.set_policy, ctx, rules, chain)
        return pb.SetClientPolicyResponse(version=policy.version)

    @rpc
    async def EscalateDueDeadlines(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        if not ctx.has_role(*ESCALATION_ROLES):
            raise PermissionDenied("escalation sweeps need a supervisor, manager or admin role")
        p = mapping.Parsed()
        as_of = p.day("as_of", request.as_of, required=False) or eastern_date(ctx)
        p.done()
        raised = await self.escalations.sweep(ctx, as_of)
        return pb.EscalateDueDeadlinesResponse(escalations_raised=raised)

    @rpc
    async def SuggestOffer(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        query = SuggestionQuery(
            request.service_code, request.region, request.plan_type, request.qpa_cents
        )
        suggestion = await self.blocking(self.app.suggest, ctx, request.negotiation_id, query)
        return mapping.suggestion_to_proto(suggestion)
