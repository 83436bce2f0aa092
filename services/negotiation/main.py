"""Composition root of the negotiation service: `python -m services.negotiation.main`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from oonledger.negotiation.v1 import negotiation_pb2_grpc
from services.common.consumer import Subscription
from services.common.grpc_server import ServicerBinding
from services.common.processors import ApplicationProcessor, ProjectionProcessor
from services.common.runtime import Infrastructure, ServiceParts, run_service
from services.negotiation.adapters.compliance_recorder import ACT_EVENTS, ComplianceRecorder
from services.negotiation.adapters.escalation_sweep import EscalationSweep, utc_now
from services.negotiation.adapters.grpc_api import NegotiationServicer
from services.negotiation.adapters.projections import WorkQueue
from services.negotiation.adapters.subscriptions import CLAIM_EVENTS, ClaimReactions
from services.negotiation.application import NegotiationApplication
from services.ops.service import PipelineOperations

SERVICE = "negotiation"


def build(infra: Infrastructure, clock: Callable[[], datetime] = utc_now) -> ServiceParts:
    app = NegotiationApplication(infra.settings)
    work_queue = WorkQueue(infra.pool, infra.settings.schema, app.engine)
    escalations = EscalationSweep(app, work_queue, infra.blocking)
    servicer = NegotiationServicer(app, infra.blocking, work_queue, escalations)
    sweep_every_s = float(infra.settings.extra.get("NEGOTIATION_ESCALATION_SWEEP_SECONDS", "3600"))
    subscriptions = [
        Subscription(
            "claims",
            "claims-events",
            ApplicationProcessor(
                app, "claims-events", ClaimReactions(app), infra.blocking.executor
            ),
            event_types=CLAIM_EVENTS,
        ),
        # After each act, the case's compliance report as it stood (the ledger folds it).
        Subscription(
            SERVICE,
            "compliance-record",
            ApplicationProcessor(
                app, "compliance-record", ComplianceRecorder(app), infra.blocking.executor
            ),
            event_types=ACT_EVENTS,
        ),
        Subscription(
            SERVICE,
            "work-queue",
            ProjectionProcessor(infra.pool, infra.settings.schema, "work-queue", work_queue.apply),
        ),
    ]
    operations = PipelineOperations(infra, app, subscriptions)
    background = [escalations.every(sweep_every_s, clock)] if sweep_every_s > 0 else []
    return ServiceParts(
        bindings=[
            ServicerBinding(
                negotiation_pb2_grpc.add_NegotiationServiceServicer_to_server,
                servicer,
                "oonledger.negotiation.v1.NegotiationService",
            ),
            operations.binding,
        ],
        app=app,
        subscriptions=subscriptions,
        migrations=[work_queue.migrate],
        background=[*background, operations.run],
    )


if __name__ == "__main__":
    run_service(SERVICE, build)
