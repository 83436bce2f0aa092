"""Composition root of the fees service: `python -m services.fees.main`."""

from __future__ import annotations

from oonledger.fees.v1 import fees_pb2_grpc
from services.common.consumer import Subscription
from services.common.grpc_server import ServicerBinding
from services.common.runtime import Infrastructure, ServiceParts, run_service
from services.fees.adapters.batch_consumer import BatchConsumer
from services.fees.adapters.grpc_api import SERVICE_NAME, FeesServicer
from services.fees.adapters.intake import FeeIntake
from services.fees.adapters.projections import FeeProjections, ReadModelBatches
from services.fees.adapters.sql import FeeQueries
from services.fees.adapters.subscriptions import (
    CLAIMS_EVENTS,
    NEGOTIATION_EVENTS,
    SETTLEMENT_EVENTS,
)
from services.fees.application import FeesApplication
from services.ops.service import PipelineOperations

READ_MODELS = "fee-read-models"
BATCH = 500
# Eight deliveries give an unknown claim about a minute to be registered before it is
# dead-lettered (infrastructure faults never count: services/common/faults.py).
MAX_DELIVER = 8


def build(infra: Infrastructure) -> ServiceParts:
    settings = infra.settings
    app = FeesApplication(settings)
    projections = FeeProjections(settings.schema)
    intake = FeeIntake(app, infra.blocking.executor)
    read_models = ReadModelBatches(infra.pool, projections, READ_MODELS)
    consumers = [
        BatchConsumer(infra.nc, settings, Subscription(
            upstream, name, intake, event_types=event_types, max_deliver=MAX_DELIVER,
            batch=BATCH), intake, infra.monitor)
        for upstream, name, event_types in (
            ("claims", "claims-facts", CLAIMS_EVENTS),
            ("settlement", "settlement-payments", SETTLEMENT_EVENTS),
            ("negotiation", "negotiation-outcomes", NEGOTIATION_EVENTS),
        )
    ]
    consumers.append(BatchConsumer(infra.nc, settings, Subscription(
        "fees", READ_MODELS, read_models, max_deliver=MAX_DELIVER, batch=BATCH), read_models,
        infra.monitor))
    operations = PipelineOperations(infra, app, [consumer.sub for consumer in consumers])

    return ServiceParts(
        bindings=[ServicerBinding(fees_pb2_grpc.add_FeesServiceServicer_to_server,
                                  FeesServicer(app, infra.blocking,
                                               FeeQueries(infra.pool, settings.schema)),
                                  SERVICE_NAME),
                  operations.binding],
        app=app,
        # Run as supervised background tasks: the runtime's own consumers process one message
        # per transaction, these a whole fetched batch.
        background=[*(consumer.run for consumer in consumers), operations.run],
        migrations=[projections.migrate],
    )


if __name__ == "__main__":
    run_service("fees", build)
