"""Composition root of the fees service: `python -m services.fees.main`."""

from __future__ import annotations

from oonledger.fees.v1 import fees_pb2_grpc

from services.common.consumer import ProjectionProcessor, Subscription
from services.common.grpc_server import ServicerBinding
from services.common.runtime import Infrastructure, ServiceParts, run_service
from services.fees.application import FeesApplication
from services.fees.grpc_api import SERVICE_NAME, FeesServicer
from services.fees.intake import AccountGuardedProcessor
from services.fees.projections import FeeProjections
from services.fees.subscriptions import (
    CLAIMS_EVENTS,
    NEGOTIATION_EVENTS,
    SETTLEMENT_EVENTS,
    FeeReactions,
)

# NATS requires max_deliver to exceed the number of backoff steps (the shared default has six
# of each); eight attempts also give an unknown claim about a minute to be registered.
MAX_DELIVER = 8


def build(infra: Infrastructure) -> ServiceParts:
    settings = infra.settings
    app = FeesApplication(settings)
    projections = FeeProjections(settings.schema)
    reactions = FeeReactions(app)
    executor = infra.blocking.executor

    def reacting(name: str, upstream: str, reaction, event_types) -> Subscription:  # type: ignore[no-untyped-def]
        return Subscription(upstream, name, AccountGuardedProcessor(app, reaction, executor),
                            event_types=event_types, max_deliver=MAX_DELIVER)

    return ServiceParts(
        bindings=[ServicerBinding(fees_pb2_grpc.add_FeesServiceServicer_to_server,
                                  FeesServicer(app, infra.blocking, infra.pool, projections),
                                  SERVICE_NAME)],
        app=app,
        subscriptions=[
            reacting("claims-facts", "claims", reactions.on_claims_event, CLAIMS_EVENTS),
            reacting("settlement-payments", "settlement", reactions.on_settlement_event,
                     SETTLEMENT_EVENTS),
            reacting("negotiation-outcomes", "negotiation", reactions.on_negotiation_event,
                     NEGOTIATION_EVENTS),
            Subscription("fees", "fee-read-models",
                         ProjectionProcessor(infra.pool, settings.schema, "fee-read-models",
                                             projections.handle),
                         max_deliver=MAX_DELIVER),
        ],
        migrations=[projections.migrate],
    )


if __name__ == "__main__":
    run_service("fees", build)
