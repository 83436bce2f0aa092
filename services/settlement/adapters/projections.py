"""Read models of settlement's own events: settlements, payments, the journal, remittance files,
remittances and the exceptions queue (the claims service's matching facts: claim_facts.py).

Each handler runs inside the ProjectionProcessor's transaction (rows + tracking commit together).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextvars import ContextVar
from datetime import date
from functools import partial
from typing import Any

import asyncpg
from google.protobuf.unknown_fields import UnknownFieldSet

from services.common.consumer import ArrivedEarly, Delivery
from services.common.contracts import PROTOBUF
from services.common.phi import PATIENT_CONTROL_NUMBER, PAYER_CLAIM_NUMBER, PhiKeys
from services.settlement.adapters.claim_facts import Handler, add_icn
from services.settlement.adapters.read_model_schema import statements


async def migrate(pool: asyncpg.Pool, schema: str) -> None:
    async with pool.acquire() as conn:
        for statement in statements(schema):
            await conn.execute(statement)


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


# -- settlement's own events -> settlements, payments, journal, remittances, exceptions -------
# While a batch is projected (`batch_projector`), journal rows are gathered here and written
# with two statements at the end of the batch, in its transaction: nothing reads them back
# before the commit, and ON CONFLICT DO NOTHING makes the order of the inserts irrelevant.
_JOURNAL_ROWS: ContextVar[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None] = (
    ContextVar("settlement_journal_rows", default=None))


async def _journal(
    conn: asyncpg.Connection, s: str, d: Delivery, claim_id: str, remittance_id: str
) -> None:
    gathered = _JOURNAL_ROWS.get()
    if gathered is not None:
        transactions, postings = gathered
        for tx in d.payload.get("journal", []):
            transactions.append((
                d.tenant_id, tx["transaction_id"], tx.get("reverses", ""), tx["description"],
                claim_id, remittance_id, d.event_type, d.envelope.notification_id))
            postings.extend(
                (d.tenant_id, tx["transaction_id"], line, p["account"], p["amount_cents"])
                for line, p in enumerate(tx["postings"]))
        return
    for tx in d.payload.get("journal", []):
        await conn.execute(
            """INSERT INTO journal_transactions VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT DO NOTHING""",
            d.tenant_id,
            tx["transaction_id"],
            tx.get("reverses", ""),
            tx["description"],
            claim_id,
            remittance_id,
            d.event_type,
            d.envelope.notification_id,
        )
        await conn.executemany(
            """INSERT INTO journal_postings VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT DO NOTHING""",
            [
                (d.tenant_id, tx["transaction_id"], line, p["account"], p["amount_cents"])
                for line, p in enumerate(tx["postings"])
            ],
        )


def _claim(d: Delivery) -> str:
    return d.envelope.claim_id


# settlement's own contract fields that held a plain identifier before issue 21 (reserved now).
_LEGACY_OWN_FIELDS = {"initial_payment_icn": 8, "payer_claim_control_number": 5}


def _tokens(keys: PhiKeys, d: Delivery, field: str) -> tuple[str, str]:
    """(index, sealed) of an identifier on settlement's own event: as published, or from an
    event published before the contract tokenized it (the plain value of a pre-contract JSON
    payload, or the reserved field of a v1 message), tokenized here and never stored plain."""
    p = d.payload
    index, sealed = p.get(f"{field}_index") or "", p.get(f"{field}_sealed") or ""
    if index:
        return index, sealed
    plain = ""
    if not d.envelope.payload_content_type.startswith(PROTOBUF):
        plain = str(p.get(field) or "")
    elif field in _LEGACY_OWN_FIELDS:
        unknown: Iterable[Any] = UnknownFieldSet(d.message)  # type: ignore[assignment]
        for item in unknown:
            if item.field_number == _LEGACY_OWN_FIELDS[field] and isinstance(item.data, bytes):
                plain = item.data.decode()
    if not plain:
        return "", ""
    kind = PATIENT_CONTROL_NUMBER if field == "patient_control_number" else PAYER_CLAIM_NUMBER
    return keys.index(d.tenant_id, kind, plain), keys.seal(plain)


async def _settlement_opened(
    conn: asyncpg.Connection, s: str, d: Delivery, *, keys: PhiKeys
) -> None:
    p = d.payload
    await conn.execute(
        """INSERT INTO settlements (tenant_id, claim_id, settlement_id, source, source_ref,
            payer_id, agreed_total_cents, patient_cost_sharing_cents, already_paid_cents,
            paid_cents, patient_balance_cents, decided_on, due_date, nsa_protected,
            amount_owed_cents)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $8, $10, $11, $12, $13)
            ON CONFLICT DO NOTHING""",
        d.tenant_id,
        p["claim_id"],
        d.envelope.aggregate_id,
        p["source"],
        p["source_ref"],
        p["payer_key"],
        p["agreed_total_cents"],
        p["patient_cost_sharing_cents"],
        p["already_paid_cents"],
        _date(p["decided_on"]),
        _date(p["due_date"]),
        p["nsa_protected"],
        p["amount_owed_cents"],
    )
    if p["already_paid_cents"]:
        await conn.execute(
            """INSERT INTO payments (tenant_id, claim_id, payment_id, amount_cents, method,
                reference, payer_claim_control_number_index, paid_on, reversed,
                remittance_id, seq)
                VALUES ($1, $2, 'initial', $3, 'initial_adjudication', '', $4, $5, false, '',
                $6) ON CONFLICT DO NOTHING""",
            d.tenant_id,
            p["claim_id"],
            p["already_paid_cents"],
            _tokens(keys, d, "initial_payment_icn")[0],
            _date(p["decided_on"]),
            d.envelope.notification_id,
        )
    await _journal(conn, s, d, p["claim_id"], "")


async def _paid_delta(conn: asyncpg.Connection, d: Delivery, delta: int) -> None:
    await conn.execute(
        "UPDATE settlements SET paid_cents = paid_cents + $3 "
        "WHERE tenant_id = $1 AND claim_id = $2",
        d.tenant_id,
        _claim(d),
        delta,
    )


async def _payment_posted(
    conn: asyncpg.Connection, s: str, d: Delivery, *, keys: PhiKeys
) -> None:
    p = d.payload
    icn_index, icn_sealed = _tokens(keys, d, "payer_claim_control_number")
    await conn.execute(
        """INSERT INTO payments (tenant_id, claim_id, payment_id, amount_cents, method,
            reference, payer_claim_control_number_index, payer_claim_control_number_sealed,
            paid_on, reversed, remittance_id, seq, lines)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false, $10, $11, $12::jsonb)
            ON CONFLICT DO NOTHING""",
        d.tenant_id,
        _claim(d),
        p["payment_id"],
        p["amount_cents"],
        p["method"],
        p["reference"],
        icn_index,
        icn_sealed,
        _date(p["paid_on"]),
        p["remittance_id"],
        d.envelope.notification_id,
        json.dumps(p.get("line_matches") or []),  # absent on v1 events
    )
    await _paid_delta(conn, d, p["amount_cents"])
    await add_icn(conn, s, d.tenant_id, _claim(d), icn_index)
    await _journal(conn, s, d, _claim(d), p["remittance_id"])


async def _payment_icn(conn: asyncpg.Connection, s: str, d: Delivery, *, keys: PhiKeys) -> None:
    await add_icn(conn, s, d.tenant_id, _claim(d),
                   _tokens(keys, d, "payer_claim_control_number")[0])


async def _payment_reversed(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    p = d.payload
    await conn.execute(
        "UPDATE payments SET reversed = true "
        "WHERE tenant_id = $1 AND claim_id = $2 AND payment_id = $3",
        d.tenant_id,
        _claim(d),
        p["payment_id"],
    )
    await _paid_delta(conn, d, -p["amount_cents"])
    await _journal(conn, s, d, _claim(d), p["remittance_id"])


async def _recoupment_posted(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    await _paid_delta(conn, d, -d.payload["amount_cents"])
    await _journal(conn, s, d, _claim(d), d.payload["remittance_id"])


async def _interest_posted(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    await conn.execute(
        "UPDATE settlements SET interest_cents = interest_cents + $3 "
        "WHERE tenant_id = $1 AND claim_id = $2",
        d.tenant_id,
        _claim(d),
        d.payload["amount_cents"],
    )
    await _journal(conn, s, d, _claim(d), d.payload["remittance_id"])


def _variance(name: str) -> Handler:
    async def handle(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
        await conn.execute(
            "UPDATE settlements SET last_variance = $3 WHERE tenant_id = $1 AND claim_id = $2",
            d.tenant_id,
            _claim(d),
            name,
        )

    return handle


async def _overdue(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    await conn.execute(
        "UPDATE settlements SET overdue_flagged_on = $3 WHERE tenant_id = $1 AND claim_id = $2",
        d.tenant_id,
        _claim(d),
        _date(d.payload["as_of"]),
    )


async def _fee_posted(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    await _journal(conn, s, d, _claim(d), "")


async def _patient_responsibility(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    await conn.execute(
        "UPDATE settlements SET patient_balance_cents = $3 WHERE tenant_id = $1 AND claim_id = $2",
        d.tenant_id,
        _claim(d),
        d.payload["amount_cents"],
    )
    await _journal(conn, s, d, _claim(d), "")


async def _file_received(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    await conn.execute(
        """INSERT INTO remittance_files (tenant_id, file_id, file_name, content_sha256,
            outcome, seq) VALUES ($1, $2, $3, $4, 'received', $5) ON CONFLICT DO NOTHING""",
        d.tenant_id,
        d.envelope.aggregate_id,
        d.payload["file_name"],
        d.payload["content_sha256"],
        d.envelope.notification_id,
    )


def _file_outcome(outcome: str) -> Handler:
    async def handle(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
        await conn.execute(
            """UPDATE remittance_files SET outcome = $3, reasons = $4, trace_numbers = $5
                WHERE tenant_id = $1 AND file_id = $2""",
            d.tenant_id,
            d.envelope.aggregate_id,
            outcome,
            d.payload.get("reasons", []),
            d.payload.get("trace_numbers", []),
        )

    return handle


async def _remittance_imported(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    p = d.payload
    await conn.execute(
        """INSERT INTO remittances VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT DO NOTHING""",
        d.tenant_id,
        d.envelope.aggregate_id,
        p["file_id"],
        p["trace_number"],
        p["payer_id"],
        _date(p["payment_date"]),
        p["total_paid_cents"],
        p["claim_count"],
        p["matched_count"],
        p["exception_count"],
    )
    await _journal(conn, s, d, "", d.envelope.aggregate_id)  # v1 events carry it inline


async def _remittance_chunk_posted(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    await _journal(conn, s, d, "", d.payload["remittance_id"])


def _identifiers(keys: PhiKeys, d: Delivery) -> tuple[str, str, str, str]:
    """A queued item's CLP01 and CLP07: keyed hash and sealed, never plain (phi.py)."""
    return (*_tokens(keys, d, "patient_control_number"),
            *_tokens(keys, d, "payer_claim_control_number"))


async def _exception_queued(
    conn: asyncpg.Connection, s: str, d: Delivery, *, keys: PhiKeys
) -> None:
    p = d.payload
    await conn.execute(
        """INSERT INTO payment_exceptions (tenant_id, exception_id, remittance_id,
            trace_number, ordinal, status_code, charge_cents, paid_cents, reason,
            candidate_claim_id, seq, patient_control_number_index,
            patient_control_number_sealed, payer_claim_control_number_index,
            payer_claim_control_number_sealed)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            ON CONFLICT DO NOTHING""",
        d.tenant_id,
        d.envelope.aggregate_id,
        p["remittance_id"],
        p["trace_number"],
        p["ordinal"],
        p["status_code"],
        p["charge_cents"],
        p["paid_cents"],
        p["reason"],
        p["candidate_claim_id"],
        d.envelope.notification_id,
        *_identifiers(keys, d),
    )


async def _line_exception_queued(
    conn: asyncpg.Connection, s: str, d: Delivery, *, keys: PhiKeys
) -> None:
    p = d.payload
    await conn.execute(
        """INSERT INTO payment_exceptions (tenant_id, exception_id, remittance_id,
            trace_number, ordinal, status_code, charge_cents, paid_cents, reason,
            candidate_claim_id, seq, kind, claim_id, line_ordinal, line_control_number,
            procedure_code, service_date, line_outcome, candidate_lines,
            patient_control_number_index, patient_control_number_sealed,
            payer_claim_control_number_index, payer_claim_control_number_sealed)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'line',
                    $10, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
            ON CONFLICT DO NOTHING""",
        d.tenant_id,
        d.envelope.aggregate_id,
        p["remittance_id"],
        p["trace_number"],
        p["ordinal"],
        p["status_code"],
        p["charge_cents"],
        p["paid_cents"],
        p["reason"],
        p["claim_id"],
        d.envelope.notification_id,
        p["line_ordinal"],
        p["line_control_number"],
        p["procedure_code"],
        _date(p["service_date"]),
        p["outcome"],
        list(p["candidate_lines"]),
        *_identifiers(keys, d),
    )


async def _line_exception_resolved(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    await conn.execute(
        "UPDATE payment_exceptions SET resolved_claim_id = $3, resolved_line_control_number = $4 "
        "WHERE tenant_id = $1 AND exception_id = $2",
        d.tenant_id,
        d.envelope.aggregate_id,
        d.payload["claim_id"],
        d.payload["line_control_number"],
    )


async def _exception_resolved(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    await conn.execute(
        "UPDATE payment_exceptions SET resolved_claim_id = $3, resolution_cause = $4 "
        "WHERE tenant_id = $1 AND exception_id = $2",
        d.tenant_id,
        d.envelope.aggregate_id,
        d.payload["claim_id"],
        d.payload.get("cause") or "manual",  # published before the field: by hand
    )


async def _automatic_posting_refused(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    await conn.execute(
        "UPDATE payment_exceptions SET automatic_posting_refusal = $3, "
        "automatic_posting_refused_at = $4 WHERE tenant_id = $1 AND exception_id = $2",
        d.tenant_id,
        d.envelope.aggregate_id,
        d.payload["reason"],
        d.payload["refused_at"],
    )


# claim_refs also learns the ICNs of settlement's own payments (`_payment_posted`): a rebuild of
# claim_refs replays these after the claims events (services/ops/rebuild.py).
# The ICN of a remitted initial adjudication too (a later reversal names it).
CLAIM_REFS_FROM_SETTLEMENT_EVENTS = ("PaymentPosted", "InitialAdjudicationRemitted")


def claim_refs_from_settlement(keys: PhiKeys) -> dict[str, Handler]:
    return {name: partial(_payment_icn, keys=keys) for name in CLAIM_REFS_FROM_SETTLEMENT_EVENTS}


def settlement_handlers(keys: PhiKeys) -> dict[str, Handler]:
    """The read models of settlement's own events (identifiers tokenized with `keys`)."""
    return {
        **_SETTLEMENT_HANDLERS,
        "SettlementOpened": partial(_settlement_opened, keys=keys),
        "PaymentPosted": partial(_payment_posted, keys=keys),
        "InitialAdjudicationRemitted": partial(_payment_icn, keys=keys),
        "UnmatchedClaimPaymentQueued": partial(_exception_queued, keys=keys),
        "UnmatchedServiceLineQueued": partial(_line_exception_queued, keys=keys),
    }


_SETTLEMENT_HANDLERS: dict[str, Handler] = {
    "PaymentReversed": _payment_reversed,
    "RecoupmentPosted": _recoupment_posted,
    "InterestPosted": _interest_posted,
    "SettlementUnderpaid": _variance("underpaid"),
    "SettlementOverpaid": _variance("overpaid"),
    "SettlementPaidInFull": _variance("paid"),
    "SettlementOverdue": _overdue,
    "PatientResponsibilityRecorded": _patient_responsibility,
    "FeePosted": _fee_posted,
    "RemittanceFileReceived": _file_received,
    "RemittanceFileAccepted": _file_outcome("accepted"),
    "RemittanceFileQuarantined": _file_outcome("quarantined"),
    "RemittanceImported": _remittance_imported,
    "RemittanceChunkPosted": _remittance_chunk_posted,
    "UnmatchedClaimPaymentResolved": _exception_resolved,
    "AutomaticPostingRefused": _automatic_posting_refused,
    "UnmatchedServiceLineResolved": _line_exception_resolved,
}


async def use_schema(conn: asyncpg.Connection, schema: str) -> None:
    """Point unqualified table names at the service's schema for this transaction only."""
    await conn.execute("SELECT set_config('search_path', $1, true)", f'"{schema}"')


class ProjectionOutOfOrder(ArrivedEarly):
    """An event arrived before its aggregate's previous one (another replica has that one):
    the consumer retries it after a short backoff, by which time the predecessor is applied."""


async def _claim_version(conn: asyncpg.Connection, delivery: Delivery) -> bool:
    """Apply each aggregate's events in version order, whatever replica consumes them."""
    envelope = delivery.envelope
    current = await conn.fetchval(
        "SELECT version FROM projected_versions WHERE aggregate_id = $1 FOR UPDATE",
        envelope.aggregate_id,
    )
    expected = (current or 0) + 1
    if envelope.aggregate_version < expected:
        return False  # already applied (a redelivery after the tracking row was written)
    if envelope.aggregate_version > expected:
        raise ProjectionOutOfOrder(
            f"{envelope.aggregate_id} v{envelope.aggregate_version} before v{expected}"
        )
    await conn.execute(
        "INSERT INTO projected_versions VALUES ($1, $2) "
        "ON CONFLICT (aggregate_id) DO UPDATE SET version = EXCLUDED.version",
        envelope.aggregate_id,
        envelope.aggregate_version,
    )
    return True


def projector(
    schema: str, handlers: dict[str, Handler], *, in_version_order: bool = False
) -> Callable[..., Awaitable[None]]:
    async def project(conn: asyncpg.Connection, delivery: Delivery) -> None:
        await use_schema(conn, schema)
        if in_version_order and not await _claim_version(conn, delivery):
            return
        handler = handlers.get(delivery.event_type)
        if handler is not None:
            await handler(conn, schema, delivery)

    return project


def batch_projector(
    schema: str, handlers: dict[str, Handler]
) -> Callable[[asyncpg.Connection, Sequence[Delivery]], Awaitable[None]]:
    """`projector(..., in_version_order=True)` for a whole batch in its one transaction, with
    fewer round trips: the search path set once, every aggregate's projected version read (and
    locked) with one query and written with one, the journal rows of the batch written with two
    statements. Semantics are the one-at-a-time path's: an event already applied is skipped,
    one that arrived before its predecessor raises ProjectionOutOfOrder (the consumer then rolls
    the batch back and applies its deliveries one at a time)."""

    async def project(conn: asyncpg.Connection, deliveries: Sequence[Delivery]) -> None:
        await use_schema(conn, schema)
        ids = list({d.envelope.aggregate_id for d in deliveries})
        rows = await conn.fetch(
            "SELECT aggregate_id, version FROM projected_versions "
            "WHERE aggregate_id = ANY($1::text[]) FOR UPDATE", ids)
        versions: dict[str, int] = {row[0]: row[1] for row in rows}
        applied: list[Delivery] = []
        for delivery in deliveries:
            envelope = delivery.envelope
            expected = versions.get(envelope.aggregate_id, 0) + 1
            if envelope.aggregate_version < expected:
                continue  # already applied (a redelivery after the tracking row was written)
            if envelope.aggregate_version > expected:
                raise ProjectionOutOfOrder(
                    f"{envelope.aggregate_id} v{envelope.aggregate_version} before v{expected}")
            versions[envelope.aggregate_id] = envelope.aggregate_version
            applied.append(delivery)
        if not applied:
            return
        moved = {d.envelope.aggregate_id for d in applied}
        await conn.execute(
            "INSERT INTO projected_versions SELECT * FROM unnest($1::text[], $2::bigint[]) "
            "ON CONFLICT (aggregate_id) DO UPDATE SET version = EXCLUDED.version",
            list(moved), [versions[aggregate_id] for aggregate_id in moved])
        gathered: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] = ([], [])
        token = _JOURNAL_ROWS.set(gathered)
        try:
            for delivery in applied:
                handler = handlers.get(delivery.event_type)
                if handler is not None:
                    await handler(conn, schema, delivery)
        finally:
            _JOURNAL_ROWS.reset(token)
        transactions, postings = gathered
        if transactions:
            await conn.executemany(
                """INSERT INTO journal_transactions VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    ON CONFLICT DO NOTHING""", transactions)
        if postings:
            await conn.executemany(
                """INSERT INTO journal_postings VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT DO NOTHING""", postings)

    return project
