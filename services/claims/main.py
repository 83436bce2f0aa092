"""Composition root of the claims service: `python -m services.claims.main`."""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from oonledger.claims.v1 import claims_pb2_grpc
from services.claims.adapters.control_numbers import ControlNumberCounter
from services.claims.adapters.duplicate_backfill import reserve_existing_claims
from services.claims.adapters.grpc_api import ClaimsServicer
from services.claims.adapters.import_jobs import KIND, Claims837Import
from services.claims.adapters.projections import ClaimsReadModel
from services.claims.adapters.sql import ClaimsQueries
from services.claims.adapters.subscriptions import (
    NEGOTIATION_FACTS,
    NEGOTIATION_STAGES,
    SETTLEMENT_ADJUDICATIONS,
    SETTLEMENT_STAGES,
    ClaimStageReactions,
    RemittedAdjudicationReactions,
)
from services.claims.application import WRITERS, ClaimsApplication
from services.common.consumer import Subscription
from services.common.grpc_server import ServicerBinding
from services.common.import_jobs import ImportJobRunner, ImportJobs, ImportJobStore
from services.common.import_jobs.runner import DEFAULT_BATCH_SIZE
from services.common.processors import ApplicationProcessor, ProjectionProcessor
from services.common.runtime import Infrastructure, ServiceParts, run_service
from services.ops.service import PipelineOperations

log = logging.getLogger(__name__)

SERVICE = "claims"
# JetStream requires max_deliver > len(backoff); the shared default has them equal.
MAX_DELIVER = 6
BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0)


def build(infra: Infrastructure) -> ServiceParts:
    app = ClaimsApplication(infra.settings)
    keys = infra.settings.phi_keys()
    read_model = ClaimsReadModel(infra.pool, infra.settings.schema, keys)
    queries = ClaimsQueries(infra.pool, infra.settings.schema, keys)
    control_numbers = ControlNumberCounter(infra.pool, infra.settings.schema)
    # Import jobs read their file in a process of their own (adapters/import_jobs.py).
    readers = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    async def stop_readers() -> None:
        readers.shutdown(wait=False, cancel_futures=True)

    job_store = ImportJobStore(infra.pool, infra.settings.schema, keys,
                               infra.settings.database_url)
    job_runner = ImportJobRunner(
        job_store, {KIND: Claims837Import(app, infra.blocking, readers, queries)},
        batch_size=int(os.environ.get("OON_IMPORT_BATCH_SIZE", DEFAULT_BATCH_SIZE)),
    )
    imports = ImportJobs(job_store, job_runner, KIND, WRITERS, "an 837")
    servicer = ClaimsServicer(app, infra.blocking, queries, control_numbers, imports)
    executor = infra.blocking.executor
    subscriptions = [
        Subscription(
            SERVICE,
            "read-model",
            ProjectionProcessor(
                infra.pool, infra.settings.schema, "read-model", read_model.project
            ),
            batch=500,
            max_deliver=MAX_DELIVER,
            backoff=BACKOFF,
        ),
        Subscription(
            "negotiation",
            "negotiation-stages",
            ApplicationProcessor(
                app,
                "negotiation-stages",
                ClaimStageReactions(app, NEGOTIATION_STAGES),
                executor,
            ),
            event_types=(*NEGOTIATION_STAGES, *NEGOTIATION_FACTS),
            max_deliver=MAX_DELIVER,
            backoff=BACKOFF,
        ),
        Subscription(
            "settlement",
            "settlement-stages",
            ApplicationProcessor(
                app, "settlement-stages", ClaimStageReactions(app, SETTLEMENT_STAGES), executor
            ),
            event_types=tuple(SETTLEMENT_STAGES),
            max_deliver=MAX_DELIVER,
            backoff=BACKOFF,
        ),
        Subscription(
            "settlement",
            "settlement-adjudications",
            ApplicationProcessor(
                app,
                "settlement-adjudications",
                RemittedAdjudicationReactions(app, keys),
                executor,
            ),
            event_types=SETTLEMENT_ADJUDICATIONS,
            max_deliver=MAX_DELIVER,
            backoff=BACKOFF,
        ),
    ]
    operations = PipelineOperations(infra, app, subscriptions)

    async def reserve_duplicate_keys() -> None:
        try:
            await infra.blocking(reserve_existing_claims, app)
        except Exception:  # loud; the next start tries again (no marker was written)
            log.exception("claims: reserving the duplicate keys of older claims failed")

    return ServiceParts(
        bindings=[
            ServicerBinding(
                claims_pb2_grpc.add_ClaimsServiceServicer_to_server,
                servicer,
                "oonledger.claims.v1.ClaimsService",
            ),
            operations.binding,
        ],
        app=app,
        subscriptions=subscriptions,
        migrations=[read_model.migrate, control_numbers.migrate, job_store.migrate],
        background=[operations.run, job_runner.run, reserve_duplicate_keys],
        on_stop=[stop_readers, job_store.close],
    )


if __name__ == "__main__":
    run_service(SERVICE, build)
