"""The claims read model is order-safe: an update that arrives before its claim's
ClaimRegistered (a redelivery, another replica) waits for it instead of being lost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import nats
import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from services.claims.adapters import commands
from services.claims.adapters.projections import ClaimsReadModel
from services.claims.adapters.sql import ClaimsQueries
from services.claims.application import ClaimsApplication, RegisterClaim, TriageClaim
from services.claims.tests.factories import ctx, emergency_claim
from services.common.consumer import Subscription
from services.common.processors import ProjectionProcessor
from services.common.runtime import Infrastructure, ServiceParts
from services.common.wire import build_envelope, subject_for
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

UPSTREAM = "claimsorder"  # a private stream: no relay of a real service publishes here


async def test_triage_delivered_before_registration_ends_up_in_the_list(
    service_runner, infra_urls, make_settings
):
    settings = make_settings(UPSTREAM)
    app = ClaimsApplication(settings)
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    try:
        claim, _ = app.register_claim(ctx(tenant, request_id="r1"),
                                      RegisterClaim(emergency_claim()))
        app.triage_claim(ctx(tenant, request_id="t1"), TriageClaim(str(claim.id)))
        notifications = app.recorder.select_notifications(start=1, limit=100)
        envelopes = [build_envelope(UPSTREAM, n.id, app.mapper.to_domain_event(n),
                                    datetime.now(UTC)) for n in notifications]
    finally:
        app.close()
    kinds = [e.event_type for e in envelopes]
    assert kinds[0] == "ClaimRegistered" and "ClaimTriaged" in kinds

    read_model: ClaimsQueries | None = None

    def build(infra: Infrastructure) -> ServiceParts:
        nonlocal read_model
        queries = ClaimsQueries(infra.pool, infra.settings.schema, infra.settings.phi_keys())
        projection = ClaimsReadModel(infra.pool, infra.settings.schema,
                                     infra.settings.phi_keys())
        read_model = queries
        processor = ProjectionProcessor(infra.pool, infra.settings.schema, "read-model",
                                        projection.project)
        return ServiceParts(bindings=[], migrations=[projection.migrate], subscriptions=[
            Subscription(UPSTREAM, "read-model", processor, backoff=(0.1,))])

    runtime = await service_runner.start(UPSTREAM, build)
    nc = await nats.connect(infra_urls.nats_url)
    try:
        js = nc.jetstream()
        prefix = settings.subject_prefix_for(UPSTREAM)
        for envelope in reversed(envelopes):  # ClaimTriaged first, ClaimRegistered last
            await js.publish(subject_for(prefix, envelope), envelope.SerializeToString(),
                             stream=settings.stream_for(UPSTREAM))
        consumer = runtime.consumers[0]
        await eventually(lambda: consumer.processed == len(envelopes), timeout=20)
        assert consumer.dead_lettered == 0
        assert read_model is not None
        rows, _ = await read_model.list_claims(
            tenant, commands.list_filters(pb.ListClaimsRequest(route=pb.ROUTE_FEDERAL_IDR)))
        assert [str(r.claim_id) for r in rows] == [str(claim.id)]
        assert rows[0].nsa_protected is True
        assert rows[0].version == envelopes[-1].aggregate_version
        # These envelopes are the pre-contract JSON form, the PCN in plain text: the projection
        # tokenizes it, so the claim is found by its PCN and shows it.
        assert rows[0].patient_control_number == emergency_claim().patient_control_number
        found, _ = await read_model.list_claims(tenant, commands.list_filters(
            pb.ListClaimsRequest(patient_control_number="pcn-2026-0001")))
        assert [r.claim_id for r in found] == [claim.id]
    finally:
        await nc.close()
        await service_runner.stop(runtime)
