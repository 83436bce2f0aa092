"""Composition root of the settlement service."""

from __future__ import annotations

import os

from oonledger.settlement.v1 import settlement_pb2_grpc
from services.common.consumer import Subscription
from services.common.grpc_server import ServicerBinding
from services.common.import_jobs import ImportJobRunner, ImportJobs, ImportJobStore
from services.common.processors import ApplicationProcessor, ProjectionProcessor
from services.common.runtime import Infrastructure, ServiceParts, run_service
from services.ops.service import PipelineOperations
from services.settlement.adapters import claim_facts, projections
from services.settlement.adapters.grpc_api import SettlementServicer
from services.settlement.adapters.import_jobs import (
    DEFAULT_FEES_WAIT_SECONDS,
    KIND,
    Remittance835Import,
)
from services.settlement.adapters.overdue_scanner import overdue_scanner
from services.settlement.adapters.sql import SettlementReads
from services.settlement.adapters.subscriptions import (
    CLAIMS_EVENTS,
    FEES_EVENTS,
    NEGOTIATION_EVENTS,
    WAITLIST_EVENTS,
    claim_facts_lookup,
    claim_lines_lookup,
    event_committed,
    fees_prefetch,
    fees_reaction,
    negotiation_reaction,
    waitlist_prefetch,
    waitlist_reaction,
)
from services.settlement.application import POSTING_ROLES, SettlementApplication


def build(infra: Infrastructure) -> ServiceParts:
    settings = infra.settings
    schema = settings.schema
    app = SettlementApplication(settings)
    reads = SettlementReads(infra.pool, schema)
    # 835 import jobs (adapters/import_jobs.py): the shared machinery, settlement's posting.
    job_store = ImportJobStore(infra.pool, schema, app.phi_keys, settings.database_url)
    fees_wait = float(os.environ.get("OON_IMPORT_FEES_WAIT_SECONDS", DEFAULT_FEES_WAIT_SECONDS))
    job_runner = ImportJobRunner(job_store, {
        KIND: Remittance835Import(app, infra.blocking, reads, infra.pool, schema, fees_wait)})
    imports = ImportJobs(job_store, job_runner, KIND, POSTING_ROLES, "an 835")
    servicer = SettlementServicer(app, infra.blocking, reads, imports)
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
                negotiation_reaction(app, claim_facts_lookup(app, schema)),
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
        # Settlement's own events: the payments queued while a claim had no settlement post
        # once it opens (domain/settlement_waitlist.py).
        Subscription(
            "settlement",
            "awaiting-settlement",
            ApplicationProcessor(
                app, "awaiting-settlement",
                waitlist_reaction(app, claim_lines_lookup(app, schema)),
                infra.blocking.executor,
                prefetch=waitlist_prefetch,
            ),
            event_types=WAITLIST_EVENTS,
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
                on_applied=event_committed,
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
        migrations=[migrate, job_store.migrate],
        background=[overdue_scanner(app, reads, infra.blocking, scan_every_s),
                    operations.run, job_runner.run],
        subscriptions=subscriptions,
        on_stop=[job_store.close],
    )


if __name__ == "__main__":
    run_service("settlement", build)
