"""Composition root of the settlement service."""

from __future__ import annotations

from oonledger.settlement.v1 import settlement_pb2_grpc
from services.common.consumer import Subscription
from services.common.grpc_server import ServicerBinding
from services.common.processors import ApplicationProcessor, ProjectionProcessor
from services.common.runtime import Infrastructure, ServiceParts, run_service
from services.ops.service import PipelineOperations
from services.settlement.adapters import claim_facts, projections
from services.settlement.adapters.grpc_api import SettlementServicer
from services.settlement.adapters.overdue_scanner import overdue_scanner
from services.settlement.adapters.sql import SettlementReads
from services.settlement.adapters.subscriptions import (
    CLAIMS_EVENTS,
    FEES_EVENTS,
    NEGOTIATION_EVENTS,
    claim_facts_lookup,
    fees_prefetch,
    fees_reaction,
    negotiation_reaction,
)
from services.settlement.application import SettlementApplication


def build(infra: Infrastructure) -> ServiceParts:
    settings = infra.settings
    schema = settings.schema
    app = SettlementApplication(settings)
    reads = SettlementReads(infra.pool, schema)
    servicer = SettlementServicer(app, infra.blocking, reads)
    scan_every_s = float(settings.extra.get("SETTLEMENT_OVERDUE_SCAN_SECONDS", "3600"))

    async def migrate(pool: object) -> None:
        await projections.migrate(infra.pool, schema)

    subscriptions = [
        Subscription(
            "negotiation",
            "negotiation-outcomes",
            ApplicationProcessor(
                app,
                "negotiation-outcomes",
                negotiation_reaction(app, claim_facts_lookup(settings.database_url, schema)),
                infra.blocking.executor,
            ),
            event_types=NEGOTIATION_EVENTS,
        ),
        Subscription(
            "fees",
            "fee-postings",
            ApplicationProcessor(
                app, "fee-postings", fees_reaction(app), infra.blocking.executor,
                prefetch=fees_prefetch,
            ),
            event_types=FEES_EVENTS,
        ),
        Subscription(
            "claims",
            "claim-facts",
            ProjectionProcessor(
                infra.pool,
                schema,
                "claim-facts",
                projections.projector(schema, claim_facts.claims_handlers(app.phi_keys)),
            ),
            event_types=CLAIMS_EVENTS,
        ),
        Subscription(
            "settlement",
            "settlement-read-models",
            ProjectionProcessor(
                infra.pool,
                schema,
                "settlement-read-models",
                projections.projector(
                    schema, projections.settlement_handlers(app.phi_keys), in_version_order=True
                ),
                # A posted 835 is tens of thousands of events: a batch in few round trips.
                batch_handler=projections.batch_projector(
                    schema, projections.settlement_handlers(app.phi_keys)),
            ),
            batch=500,
        ),
    ]
    operations = PipelineOperations(infra, app, subscriptions)
    return ServiceParts(
        bindings=[
            ServicerBinding(
                settlement_pb2_grpc.add_SettlementServiceServicer_to_server,
                servicer,
                "oonledger.settlement.v1.SettlementService",
            ),
            operations.binding,
        ],
        app=app,
        migrations=[migrate],
        background=[overdue_scanner(app, reads, infra.blocking, scan_every_s),
                    operations.run],
        subscriptions=subscriptions,
    )


if __name__ == "__main__":
    run_service("settlement", build)
