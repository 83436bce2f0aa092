"""A large 835 is posted in bounded chunks: small events, one transaction per chunk, and a retry
after an interruption resumes without posting any claim twice."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.common.context import CommandContext
from services.common.wire import canonical_json, event_payload
from services.settlement.adapters.remittance_intake import prepare_import
from services.settlement.application import (
    ImportOutcome,
    ImportRemittance,
    OpeningTerms,
    SettlementApplication,
)
from services.settlement.domain import (
    CLAIMS_PER_CHUNK,
    ClaimIndex,
    ClaimReference,
    RemittanceChunk,
    RemittanceFile,
    RemittanceRecord,
    Settlement,
    SettlementSource,
    settlement_id_for,
)
from services.x12.writer_835 import (
    LineSpec,
    ProviderAdjustmentSpec,
    RemittanceSpec,
    build_835,
    bulk_claims,
)
from tests.support.plugin import stored_as_version_1

DOS = date(2026, 9, 1)
CLAIMS = 2 * CLAIMS_PER_CHUNK + 50  # three chunks
OPEN = 300  # the rest match a claim with no open settlement: unapplied cash, queued


class Interrupted(Exception):
    """The process died between two chunks (injected after a number of saves)."""


class InterruptibleSettlement(SettlementApplication):
    # The settlement service's own application (same tables), with a crash injected: one
    # schema holds one application's events, as in production.
    name = SettlementApplication.name
    saves_left: int | None = None

    def save_all(self, *aggregates: Any) -> None:
        if self.saves_left is not None:
            if self.saves_left == 0:
                raise Interrupted
            self.saves_left -= 1
        super().save_all(*aggregates)


@pytest.fixture(scope="module")
def app(make_settings):
    application = InterruptibleSettlement(make_settings("settlement"))
    yield application
    application.close()


def ctx(tenant: str, request_id: str | None = None) -> CommandContext:
    return CommandContext(tenant_id=tenant, actor="poster", now=datetime.now(UTC),
                          roles=frozenset({"finance"}), request_id=request_id or uuid.uuid4().hex)


def seeded(app: SettlementApplication, tag: str) -> tuple[str, Any, ClaimIndex]:
    tenant = f"tenant-{tag}"
    claims = bulk_claims(CLAIMS, service_date=DOS, prefix=f"P{tag}")
    opened = [
        app.open_settlement(ctx(tenant), OpeningTerms(
            claim_id=f"claim-{c.patient_control_number}", source=SettlementSource.AGREEMENT,
            source_ref="test", decided_on=date(2026, 10, 1), due_date=date(2026, 10, 31),
            amount_owed_cents=c.paid_cents,
            agreed_total_cents=c.paid_cents + c.patient_responsibility_cents,
            patient_cost_sharing_cents=c.patient_responsibility_cents, already_paid_cents=0,
            payer_id="87726"))
        for c in claims[:OPEN]
    ]
    app.save_all(*opened)
    index = ClaimIndex.build(
        ClaimReference(f"claim-{c.patient_control_number}", c.patient_control_number,
                       frozenset({c.payer_claim_control_number}), "1234567893", "", DOS,
                       c.charge_cents, adjudicated=True)  # the ICN is its adjudication's
        for c in claims
    )
    return tenant, claims, index


def era(claims: Any, trace: str, **kwargs: Any) -> bytes:
    spec = RemittanceSpec(trace, date(2026, 11, 2), claims, **kwargs)
    return build_835(spec).encode()


def events_of(app: SettlementApplication, aggregate_id: uuid.UUID) -> list[Any]:
    return list(app.events.get(aggregate_id))


def payments_by_claim(app: SettlementApplication, tenant: str, claims: Any) -> Counter[str]:
    posted: Counter[str] = Counter()
    for c in claims[:OPEN]:
        claim_id = f"claim-{c.patient_control_number}"
        for event in events_of(app, settlement_id_for(tenant, claim_id)):
            if type(event).__name__ == "PaymentPosted":
                posted[claim_id] += 1
    return posted


def test_a_large_remittance_is_recorded_as_bounded_chunk_events(app):
    tag = uuid.uuid4().hex[:6]
    tenant, claims, index = seeded(app, tag)
    prepared = prepare_import(era(claims, f"TRN{tag}", provider_adjustments=(
        ProviderAdjustmentSpec("L6", -1_234),)), "big.835")
    result = app.import_remittance(ctx(tenant), ImportRemittance(prepared, index))

    assert result.outcome == ImportOutcome.POSTED
    (record,) = result.remittances
    assert (record.claim_count, record.matched_count, record.exception_count, record.chunk_count
            ) == (CLAIMS, OPEN, CLAIMS - OPEN, 3)
    (imported,) = events_of(app, record.id)
    assert not hasattr(imported, "journal")
    chunks = [app.load(c, tenant, RemittanceChunk) for c in _chunk_ids(tenant, record.id, 3)]
    posted = [events_of(app, c.id)[0] for c in chunks]
    assert [(p.first_ordinal, p.last_ordinal) for p in posted] == [
        (1, 200), (201, 400), (401, CLAIMS)]
    unapplied = [t for p in posted for t in p.journal if t["transaction_id"].endswith("unapplied")]
    assert len(unapplied) == CLAIMS - OPEN
    assert [t["description"] for t in posted[-1].journal][-1].startswith("PLB L6")
    biggest = max(len(canonical_json(event_payload(e))) for e in [imported, *posted])
    assert biggest < 80_000, biggest  # bounded by the chunk, whatever the file's size
    assert set(payments_by_claim(app, tenant, claims).values()) == {1}
    assert len(payments_by_claim(app, tenant, claims)) == OPEN


def _chunk_ids(tenant: str, remittance_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    from services.settlement.domain import chunk_id_for

    return [chunk_id_for(tenant, remittance_id, n) for n in range(1, count + 1)]


def test_an_interrupted_import_resumes_and_posts_each_claim_once(app):
    tag = uuid.uuid4().hex[:6]
    tenant, claims, index = seeded(app, tag)
    prepared = prepare_import(era(claims, f"TRN{tag}"), "big.835")
    app.saves_left = 1  # chunk 1 commits (with the file's receipt), then the process dies
    try:
        with pytest.raises(Interrupted):
            app.import_remittance(ctx(tenant), ImportRemittance(prepared, index))
    finally:
        app.saves_left = None
    received = app.load(result_file_id(tenant, prepared), tenant, RemittanceFile)
    assert received.outcome == ""
    assert len(payments_by_claim(app, tenant, claims)) == CLAIMS_PER_CHUNK  # chunk 1 only

    # Another file with the same payment (TRN) is refused while the first is half-posted.
    other = prepare_import(era(claims[:3], f"TRN{tag}"), "copy.835")
    refused = app.import_remittance(ctx(tenant), ImportRemittance(other, index))
    assert refused.outcome == ImportOutcome.QUARANTINED
    assert "already imported from a different file" in refused.reasons[0]

    # a new request id
    resumed = app.import_remittance(ctx(tenant), ImportRemittance(prepared, index))
    assert resumed.outcome == ImportOutcome.POSTED
    (record,) = resumed.remittances
    assert (record.matched_count, record.exception_count) == (OPEN, CLAIMS - OPEN)
    posted = payments_by_claim(app, tenant, claims)
    assert len(posted) == OPEN and set(posted.values()) == {1}
    for c in claims[:OPEN]:
        settlement = app.load(settlement_id_for(tenant, f"claim-{c.patient_control_number}"),
                              tenant, Settlement)
        assert settlement.paid_cents == c.paid_cents

    again = app.import_remittance(ctx(tenant), ImportRemittance(prepared, index))
    assert again.outcome == ImportOutcome.ALREADY_IMPORTED
    assert [r.id for r in again.remittances] == [record.id]
    assert app.load(record.id, tenant, RemittanceRecord).chunk_count == 3


def test_a_quarantined_file_records_a_bounded_list_of_reasons(app):
    tag = uuid.uuid4().hex[:6]
    tenant, claims, index = seeded(app, tag)
    # Every claim's SVC disagrees with its CLP: one reason per claim.
    broken = tuple(replace(c, lines=(LineSpec(
        "99285", c.charge_cents, c.paid_cents - 1, c.patient_responsibility_cents),))
        for c in claims)
    content = era(broken, f"TRN{tag}")
    prepared = prepare_import(content, "broken.835")
    assert len(prepared.reasons) > 100
    result = app.import_remittance(ctx(tenant), ImportRemittance(prepared, index))
    assert result.outcome == ImportOutcome.QUARANTINED
    assert len(result.reasons) == len(prepared.reasons)  # the caller is told every reason
    stored = app.load(result.file_id, tenant, RemittanceFile)
    assert len(stored.reasons) == 100
    assert stored.reasons[-1] == f"... and {len(prepared.reasons) - 99} more reasons"


def result_file_id(tenant: str, prepared: Any) -> uuid.UUID:
    from services.settlement.domain import file_id_for

    return file_id_for(tenant, prepared.content_sha256)


def test_remittance_events_stored_by_the_previous_release_still_load(app):
    """v1 RemittanceImported (whole journal inline), RemittanceFileAccepted (warnings inline)
    and RemittanceFileQuarantined (every reason) are upcast; their inline lists are kept."""
    tag = uuid.uuid4().hex[:6]
    tenant, claims, index = seeded(app, tag)
    prepared = prepare_import(era(claims[:3], f"TRN{tag}"), "small.835")
    result = app.import_remittance(ctx(tenant), ImportRemittance(prepared, index))
    (record,) = result.remittances
    (imported,) = events_of(app, record.id)
    journal = [{"transaction_id": "x/unapplied", "description": "CLP 1", "reverses": "",
                "postings": [{"account": "provider_cash", "amount_cents": -5},
                             {"account": "unapplied_cash", "amount_cents": 5}]}]
    old = app.mapper.to_domain_event(
        stored_as_version_1(app, imported, drop=("chunk_count",), journal=journal))
    assert (old.chunk_count, old.journal) == (0, journal)
    loaded = old.mutate(None)
    assert (loaded.claim_count, loaded.chunk_count) == (3, 0)

    received, accepted = events_of(app, result.file_id)
    old_accepted = app.mapper.to_domain_event(stored_as_version_1(
        app, accepted, drop=("warning_count",), warnings=["w1", "w2"]))
    assert (old_accepted.warning_count, old_accepted.warnings) == (2, ["w1", "w2"])
    assert old_accepted.mutate(received.mutate(None)).outcome == "accepted"

    quarantined = RemittanceFile.receive(ctx(tenant), content_sha256="q" * 64, file_name="q",
                                         size_bytes=1)
    quarantined.quarantine(ctx(tenant), ["r1", "r2"], ["T"])
    first, event = quarantined.collect_events()
    old_quarantine = app.mapper.to_domain_event(
        stored_as_version_1(app, event, drop=("reason_count",)))
    assert old_quarantine.reason_count == 2
    assert old_quarantine.mutate(first.mutate(None)).reasons == ["r1", "r2"]
