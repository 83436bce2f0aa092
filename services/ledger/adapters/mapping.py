"""Proto ↔ domain conversion for the ledger (the only module that knows both sides)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from oonledger.ledger.v1 import ledger_pb2
from services.ledger.domain.bundle import Bundle
from services.ledger.domain.chain_verification import AnchoredVerdict, BreakKind, Status, leaf_of
from services.ledger.domain.checkpoint import (
    ChainHead,
    Checkpoint,
    Signature,
    SignedChainHead,
    SignedCheckpoint,
)
from services.ledger.domain.claim_state import ClaimState, Happening, StatedCompliance
from services.ledger.domain.entry import AuditEntry, EventFacts
from services.ledger.domain.signing import Signer, pem_of

if TYPE_CHECKING:  # the application's results (the auditor's tool imports this module too)
    from services.ledger.application import (
        ChainChunk,
        ConsistencyProof,
        InclusionProof,
        RenderedReport,
        TenantLog,
    )

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REQUIRED_ENVELOPE_FIELDS = ("event_id", "service", "tenant_id", "aggregate_id", "event_type")

BREAK_KINDS = {
    BreakKind.CONTENT_ALTERED: ledger_pb2.BREAK_KIND_CONTENT_ALTERED,
    BreakKind.LINK_BROKEN: ledger_pb2.BREAK_KIND_LINK_BROKEN,
    BreakKind.MISSING_ENTRY: ledger_pb2.BREAK_KIND_MISSING_ENTRY,
    BreakKind.OUT_OF_ORDER: ledger_pb2.BREAK_KIND_OUT_OF_ORDER,
    BreakKind.WRONG_CHAIN: ledger_pb2.BREAK_KIND_WRONG_CHAIN,
    BreakKind.NOT_IN_LOG: ledger_pb2.BREAK_KIND_NOT_IN_LOG,
    BreakKind.FORGED: ledger_pb2.BREAK_KIND_FORGED,
}
STATUSES = {
    Status.VERIFIED: ledger_pb2.VERIFICATION_STATUS_VERIFIED,
    Status.PENDING: ledger_pb2.VERIFICATION_STATUS_PENDING,
    Status.BROKEN: ledger_pb2.VERIFICATION_STATUS_BROKEN,
}


STATUS_BY_NAME = {status.name: value for status, value in STATUSES.items()}
REPORT_FORMAT_NAMES = {
    ledger_pb2.REPORT_FORMAT_PDF: "pdf",
    ledger_pb2.REPORT_FORMAT_HTML: "html",
}


class MalformedEnvelope(ValueError):
    """A message on an event stream that is not a usable EventEnvelope."""


def facts_from_wire(data: bytes) -> EventFacts:
    try:
        env = EventEnvelope.FromString(data)
    except Exception as exc:  # protobuf raises DecodeError (and others on garbage)
        raise MalformedEnvelope(f"not an EventEnvelope: {exc}") from exc
    missing = [name for name in REQUIRED_ENVELOPE_FIELDS if not getattr(env, name)]
    if missing:
        raise MalformedEnvelope(f"envelope lacks {', '.join(missing)}")
    if not env.HasField("occurred_at"):
        raise MalformedEnvelope("envelope lacks occurred_at")
    occurred = instant(env.occurred_at)
    recorded = instant(env.recorded_at) if env.HasField("recorded_at") else occurred
    return EventFacts(
        event_id=env.event_id,
        service=env.service,
        notification_id=env.notification_id,
        tenant_id=env.tenant_id,
        claim_id=env.claim_id,
        aggregate_type=env.aggregate_type,
        aggregate_id=env.aggregate_id,
        aggregate_version=env.aggregate_version,
        event_type=env.event_type,
        schema_version=env.schema_version,
        occurred_at=occurred,
        recorded_at=recorded,
        actor=env.actor,
        request_id=env.request_id,
        correlation_id=env.correlation_id,
        causation_id=env.causation_id,
        traceparent=env.traceparent,
        tracestate=env.tracestate,
        payload=env.payload,
        payload_content_type=env.payload_content_type,
    )


def timestamp(moment: datetime) -> Timestamp:
    # Exact integer arithmetic; Timestamp.FromDatetime is several times slower, and replays
    # convert two instants per entry.
    delta = moment - EPOCH
    return Timestamp(seconds=delta.days * 86400 + delta.seconds, nanos=delta.microseconds * 1000)


def instant(ts: Timestamp) -> datetime:
    """Microsecond precision, as PostgreSQL keeps it (nanoseconds are truncated)."""
    return EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1000)


def _build_entry(
    factory: Callable[..., ledger_pb2.AuditEntry], entry: AuditEntry
) -> ledger_pb2.AuditEntry:
    """`factory` is the message class, or a repeated field's `add` (no copy into the parent)."""
    f = entry.facts
    message = factory(
        log_index=entry.log_index,
        chain=entry.chain,
        chain_seq=entry.chain_seq,
        prev_hash=entry.prev_hash,
        entry_hash=entry.entry_hash,
        leaf_hash=leaf_of(entry),
        event_id=f.event_id,
        service=f.service,
        notification_id=f.notification_id,
        tenant_id=f.tenant_id,
        claim_id=f.claim_id,
        aggregate_type=f.aggregate_type,
        aggregate_id=f.aggregate_id,
        aggregate_version=f.aggregate_version,
        event_type=f.event_type,
        schema_version=f.schema_version,
        actor=f.actor,
        request_id=f.request_id,
        correlation_id=f.correlation_id,
        causation_id=f.causation_id,
        traceparent=f.traceparent,
        tracestate=f.tracestate,
        payload=f.payload,
        payload_content_type=f.payload_content_type,
    )
    _set_instant(message.occurred_at, f.occurred_at)
    _set_instant(message.recorded_at, f.recorded_at)
    return message


def _set_instant(target: Timestamp, moment: datetime) -> None:
    delta = moment - EPOCH
    target.seconds = delta.days * 86400 + delta.seconds
    target.nanos = delta.microseconds * 1000


def entry_message(entry: AuditEntry) -> ledger_pb2.AuditEntry:
    return _build_entry(ledger_pb2.AuditEntry, entry)


def entry_from_message(m: ledger_pb2.AuditEntry) -> AuditEntry:
    facts = EventFacts(
        event_id=m.event_id,
        service=m.service,
        notification_id=m.notification_id,
        tenant_id=m.tenant_id,
        claim_id=m.claim_id,
        aggregate_type=m.aggregate_type,
        aggregate_id=m.aggregate_id,
        aggregate_version=m.aggregate_version,
        event_type=m.event_type,
        schema_version=m.schema_version,
        occurred_at=instant(m.occurred_at),
        recorded_at=instant(m.recorded_at),
        actor=m.actor,
        request_id=m.request_id,
        correlation_id=m.correlation_id,
        causation_id=m.causation_id,
        traceparent=m.traceparent,
        tracestate=m.tracestate,
        payload=m.payload,
        payload_content_type=m.payload_content_type,
    )
    return AuditEntry(facts, m.log_index, m.chain, m.chain_seq, m.prev_hash, m.entry_hash)


def checkpoint_message(signed: SignedCheckpoint) -> ledger_pb2.SignedCheckpoint:
    c, sig = signed.checkpoint, signed.signature
    return ledger_pb2.SignedCheckpoint(
        origin=c.origin,
        tree_size=c.tree_size,
        root_hash=c.root_hash,
        issued_at=timestamp(c.issued_at),
        key_id=sig.key_id,
        public_key=sig.public_key,
        signature=sig.value,
        body=c.body().decode("utf-8"),
    )


def checkpoint_from_message(m: ledger_pb2.SignedCheckpoint) -> SignedCheckpoint:
    return SignedCheckpoint(
        Checkpoint(m.origin, m.tree_size, m.root_hash, instant(m.issued_at)),
        Signature(m.key_id, m.public_key, m.signature),
    )


def chain_head_message(signed: SignedChainHead) -> ledger_pb2.SignedChainHead:
    h, sig = signed.head, signed.signature
    return ledger_pb2.SignedChainHead(
        origin=h.origin,
        tenant_id=h.tenant_id,
        chain=h.chain,
        head_seq=h.head_seq,
        head_hash=h.head_hash,
        tree_size=h.tree_size,
        key_id=sig.key_id,
        public_key=sig.public_key,
        signature=sig.value,
        body=h.body().decode("utf-8"),
    )


def chain_head_from_message(m: ledger_pb2.SignedChainHead) -> SignedChainHead:
    return SignedChainHead(
        ChainHead(m.origin, m.tenant_id, m.chain, m.head_seq, m.head_hash, m.tree_size),
        Signature(m.key_id, m.public_key, m.signature),
    )


def tenant_log_message(log: TenantLog) -> ledger_pb2.ReplayTenantResponse:
    return ledger_pb2.ReplayTenantResponse(
        log=ledger_pb2.TenantLogHead(
            tenant_id=log.tenant_id,
            checkpoint=checkpoint_message(log.checkpoint),
            log_size=log.log_size,
            log_problems=log.problems,
        )
    )


def tenant_chunk_message(chunk: ChainChunk) -> ledger_pb2.ReplayTenantResponse:
    message = ledger_pb2.TenantChainChunk(chain=chunk.chain, ends_chain=chunk.ends_chain)
    for entry in chunk.entries:
        proven = message.entries.add()
        proven.entry.CopyFrom(entry_message(entry))
        proven.inclusion_proof.extend(chunk.proofs.get(entry.log_index, ()))
        proven.stored_leaf = chunk.stored_leaves.get(entry.log_index, b"")
    if chunk.head is not None:
        message.head.CopyFrom(chain_head_message(chunk.head))
    return ledger_pb2.ReplayTenantResponse(chunk=message)


def optional_instant(request: Message, field: str) -> datetime | None:
    """A request's optional Timestamp field as an instant (None when unset)."""
    return instant(getattr(request, field)) if request.HasField(field) else None


def report_format(value: int) -> str:
    """The report format's name ("pdf", "html"); "" when unset (the use case refuses it)."""
    return REPORT_FORMAT_NAMES.get(value, "")


def claim_as_of_response(state: ClaimState) -> ledger_pb2.GetClaimAsOfResponse:
    return ledger_pb2.GetClaimAsOfResponse(state=state_message(state))


def checkpoint_response(signed: SignedCheckpoint) -> ledger_pb2.GetCheckpointResponse:
    return ledger_pb2.GetCheckpointResponse(checkpoint=checkpoint_message(signed))


def witnessed_checkpoints_response(
    found: Iterable[SignedCheckpoint],
) -> ledger_pb2.ListWitnessedCheckpointsResponse:
    return ledger_pb2.ListWitnessedCheckpointsResponse(
        checkpoints=[checkpoint_message(signed) for signed in found]
    )


def inclusion_proof_response(proof: InclusionProof) -> ledger_pb2.GetInclusionProofResponse:
    return ledger_pb2.GetInclusionProofResponse(
        log_index=proof.entry.log_index,
        tree_size=proof.checkpoint.checkpoint.tree_size,
        leaf_hash=leaf_of(proof.entry),
        hashes=proof.hashes,
        checkpoint=checkpoint_message(proof.checkpoint),
    )


def consistency_proof_response(
    proof: ConsistencyProof,
) -> ledger_pb2.GetConsistencyProofResponse:
    return ledger_pb2.GetConsistencyProofResponse(
        first_tree_size=proof.first_size,
        second_tree_size=proof.second.checkpoint.tree_size,
        hashes=proof.hashes,
        first=checkpoint_message(proof.first) if proof.first else None,
        second=checkpoint_message(proof.second),
    )


def export_response(bundle: Bundle) -> ledger_pb2.ExportClaimResponse:
    document = json.dumps(bundle.to_json(), indent=1, ensure_ascii=False).encode("utf-8")
    return ledger_pb2.ExportClaimResponse(
        bundle_json=document,
        entries=len(bundle.entries),
        checkpoint=checkpoint_message(bundle.checkpoint),
    )


def public_key_response(signer: Signer, origin: str) -> ledger_pb2.GetPublicKeyResponse:
    return ledger_pb2.GetPublicKeyResponse(
        public_key=signer.public_key,
        key_id=signer.key_id,
        public_key_pem=pem_of(signer.public_key),
        origin=origin,
    )


def report_response(report: RenderedReport) -> ledger_pb2.GetClaimReportResponse:
    return ledger_pb2.GetClaimReportResponse(
        content=report.content,
        content_type=report.content_type,
        file_name=report.file_name,
        status=STATUS_BY_NAME[report.status],
    )


def verdict_message(
    verdict: AnchoredVerdict, log_problems: list[str], checkpoint: SignedCheckpoint | None
) -> ledger_pb2.VerifyClaimResponse:
    chain = verdict.chain
    return ledger_pb2.VerifyClaimResponse(
        ok=chain.ok and not log_problems,
        entries_checked=chain.entries_checked,
        entries_anchored=verdict.anchored,
        entries_pending=verdict.pending,
        head_hash=chain.head_hash,
        head_seq=chain.head_seq,
        breaks=[
            ledger_pb2.ChainBreak(
                kind=BREAK_KINDS[b.kind],
                chain_seq=b.chain_seq,
                event_id=b.event_id,
                log_index=b.log_index,
                detail=b.detail,
            )
            for b in chain.breaks
        ],
        log_problems=log_problems,
        checkpoint=checkpoint_message(checkpoint) if checkpoint else None,
        status=STATUSES[verdict.status(log_problems)],
    )


def _source(h: Happening) -> dict[str, object]:
    return {"at": timestamp(h.at), "event_type": h.event_type, "event_id": h.event_id}


def state_message(state: ClaimState) -> ledger_pb2.ClaimState:
    return ledger_pb2.ClaimState(
        claim_id=state.claim_id,
        as_of=timestamp(state.as_of),
        events_applied=state.events_applied,
        status=state.status,
        billed_amount_cents=state.billed_amount_cents,
        qpa_cents=state.qpa_cents,
        initial_payment_cents=state.initial_payment_cents,
        offers=[
            ledger_pb2.Offer(
                party=o.party,
                amount_cents=o.amount_cents,
                actor=o.source.actor,
                **_source(o.source),
            )  # type: ignore[arg-type]
            for o in state.offers
        ],
        agreed=state.agreed,
        agreed_amount_cents=state.agreed_amount_cents,
        agreed_via=state.agreed_via,
        payments=[
            ledger_pb2.Payment(reference=p.label, amount_cents=p.amount_cents, **_source(p.source))  # type: ignore[arg-type]
            for p in state.payments
        ],
        paid_total_cents=state.paid_total_cents,
        fees=[
            ledger_pb2.Fee(kind=f.label, amount_cents=f.amount_cents, **_source(f.source))  # type: ignore[arg-type]
            for f in state.fees
        ],
        fees_total_cents=state.fees_total_cents,
        deadlines=[
            ledger_pb2.Deadline(
                name=d.name,
                due_date=d.due_date,
                event_type=d.source.event_type,
                event_id=d.source.event_id,
            )
            for d in state.deadlines.values()
        ],
        unfolded_events=[
            ledger_pb2.UnfoldedEvent(
                event_type=e.facts.event_type,
                event_id=e.facts.event_id,
                service=e.facts.service,
                occurred_at=timestamp(e.facts.occurred_at),
            )
            for e in state.unfolded
        ],
        first_event_at=timestamp(state.first_event_at) if state.first_event_at else None,
        last_event_at=timestamp(state.last_event_at) if state.last_event_at else None,
        compliance=_compliance(state.compliance),
    )


def _compliance(stated: StatedCompliance | None) -> ledger_pb2.ComplianceAsOf | None:
    if stated is None:
        return None
    view = stated.view
    return ledger_pb2.ComplianceAsOf(
        negotiation_id=view.negotiation_id, report_as_of=view.as_of, status=view.status,
        rule_set_version=view.rule_set_version, calendar=view.calendar,
        holidays=list(view.holidays),
        lines=[ledger_pb2.ComplianceItem(**asdict(item)) for item in view.lines],
        batch_window_ends_on=view.batch_window_ends_on,
        cooling_off_ends_on=view.cooling_off_ends_on, act_event_type=view.source_event_type,
        act_at=timestamp(view.source_occurred_at), **_source(stated.source))  # type: ignore[arg-type]
