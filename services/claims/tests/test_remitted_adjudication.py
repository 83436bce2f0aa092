"""Settlement's InitialAdjudicationRemitted (the payer's first 835 for a claim) is recorded as the
claim's adjudication, exactly as RecordAdjudication records it, once: a redelivery, a later
remitted adjudication or an adjudication recorded by hand first leave the claim as it is."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest

from services.claims.application import (
    ClaimsApplication,
    RecordAdjudication,
    RecordRemittedAdjudication,
    RegisterClaim,
)
from services.claims.domain import Adjudication, ClaimStatus
from services.claims.tests.factories import ctx, emergency_claim
from services.common.errors import PermissionDenied

pytestmark = pytest.mark.asyncio(loop_scope="session")

SYSTEM = frozenset({"system"})
REMITTED = Adjudication(
    received_date=date(2026, 10, 30), billed_cents=249_000, allowed_cents=60_000,
    paid_cents=45_000, patient_responsibility_cents=15_000, carc_codes=("45", "2"),
    payer_claim_control_number="ICN-835-1",
)


@pytest.fixture
def app(make_settings):  # type: ignore[no-untyped-def]
    application = ClaimsApplication(make_settings("claimsremitted"))
    yield application
    application.close()


def _registered(app: ClaimsApplication, tenant: str) -> str:
    claim, _ = app.register_claim(ctx(tenant, request_id="reg"), RegisterClaim(emergency_claim()))
    return str(claim.id)


def _remit(app: ClaimsApplication, tenant: str, claim_id: str, adjudication: Adjudication,
           request_id: str) -> bool:
    """The reaction as the subscription runs it: the service's own context; it saves."""
    claim = app.record_remitted_adjudication(
        ctx(tenant, request_id=request_id, roles=SYSTEM),
        RecordRemittedAdjudication(claim_id, adjudication))
    if claim is None:
        return False
    app.save_all(claim)
    return True


async def test_the_remitted_adjudication_is_recorded_once(app: ClaimsApplication) -> None:
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    claim_id = _registered(app, tenant)
    assert _remit(app, tenant, claim_id, REMITTED, "import-1")
    claim = app.get_claim(ctx(tenant), claim_id)
    assert claim.adjudication == REMITTED and claim.status is ClaimStatus.PAID
    version = claim.version
    # The same event again, or a later 835's: the initial adjudication stays as it was.
    assert not _remit(app, tenant, claim_id, REMITTED, "import-1")
    assert not _remit(app, tenant, claim_id, replace(REMITTED, paid_cents=20_000), "import-2")
    claim = app.get_claim(ctx(tenant), claim_id)
    assert claim.adjudication == REMITTED and claim.version == version


async def test_a_remitted_denial_denies_the_claim(app: ClaimsApplication) -> None:
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    claim_id = _registered(app, tenant)
    denial = replace(REMITTED, allowed_cents=0, paid_cents=0, patient_responsibility_cents=0,
                     carc_codes=("50",), denied=True)
    assert _remit(app, tenant, claim_id, denial, "import-3")
    claim = app.get_claim(ctx(tenant), claim_id)
    assert claim.adjudication == denial and claim.status is ClaimStatus.DENIED


async def test_an_adjudication_recorded_by_hand_is_kept(app: ClaimsApplication) -> None:
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    claim_id = _registered(app, tenant)
    manual = replace(REMITTED, qpa_cents=52_000, qpa_disclosed=True,
                     payer_claim_control_number="ICN-BY-HAND")
    app.record_adjudication(ctx(tenant, request_id="manual"),
                            RecordAdjudication(claim_id, manual))
    assert not _remit(app, tenant, claim_id, REMITTED, "import-4")
    assert app.get_claim(ctx(tenant), claim_id).adjudication == manual


async def test_only_the_service_itself_records_a_remitted_adjudication(
        app: ClaimsApplication) -> None:
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    claim_id = _registered(app, tenant)
    with pytest.raises(PermissionDenied):
        app.record_remitted_adjudication(ctx(tenant, request_id="x"),
                                         RecordRemittedAdjudication(claim_id, REMITTED))
