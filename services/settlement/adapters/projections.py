"""Read models fed by events: the claims service's matching facts and settlement's own events.

Each handler runs inside the ProjectionProcessor's transaction (rows + tracking commit together).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from functools import partial
from typing import Any

import asyncpg
from google.protobuf.unknown_fields import UnknownFieldSet

from oonledger.claims.v1 import events_pb2 as claims_v1
from services.common.consumer import ArrivedEarly, Delivery
from services.common.contracts import PROTOBUF
from services.common.phi import PATIENT_CONTROL_NUMBER, PAYER_CLAIM_NUMBER, PhiKeys, normalized
from services.settlement.adapters.read_model_schema import statements
from services.settlement.domain import ClaimLine, prefixes_of

Handler = Callable[[asyncpg.Connection, str, Delivery], Awaitable[None]]
# Handlers that need the deployment's PHI key (claims_handlers).
KeyedHandlers = Callable[[PhiKeys], dict[str, Handler]]


async def migrate(pool: asyncpg.Pool, schema: str) -> None:
    async with pool.acquire() as conn:
        for statement in statements(schema):
            await conn.execute(statement)


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


# -- claims service events -> claim_refs ---------------------------------------------------------
def claim_lines(lines: Iterable[claims_v1.ClaimRegistered.ServiceLine]) -> list[dict[str, Any]]:
    """The 837 lines of a ClaimRegistered, in the form line matching reads (rule 5)."""
    return [
        ClaimLine(
            number=number,
            line_control_number=x.line_control_number,
            procedure_code=x.procedure_code,
            modifiers=tuple(x.modifiers),
            service_date=_date(x.service_date),
            charge_cents=x.billed_cents,
            revenue_code=x.revenue_code,
        ).to_dict()
        for number, x in enumerate(lines, start=1)
    ]


def _legacy_plain(d: Delivery, path: tuple[str, ...], field_number: int) -> str:
    """A plain identifier of a claims event published before the contract tokenized it: from
    the JSON payload (pre-contract), or the reserved field's number kept by protobuf as an
    unknown field of the v1 message. Tokenized here, never stored."""
    env = d.envelope
    if not env.payload_content_type.startswith(PROTOBUF):
        value: Any = json.loads(env.payload) if env.payload else {}
        for name in path:
            value = value.get(name, {}) if isinstance(value, dict) else {}
        return value if isinstance(value, str) else ""
    message: Any = d.message
    for name in path[:-1]:
        message = getattr(message, name)
    unknown: Iterable[Any] = UnknownFieldSet(message)  # type: ignore[assignment]
    for field in unknown:
        if field.field_number == field_number and isinstance(field.data, bytes):
            return str(field.data.decode())
    return ""


# The claims contract's field numbers of the plain identifiers before issue 21 (reserved now).
_LEGACY_PCN = ("claim", "patient_control_number"), 3
_LEGACY_ORIGINAL_ICN = ("original_payer_claim_control_number",), 4
_LEGACY_ADJUDICATION_ICN = ("adjudication", "payer_claim_control_number"), 10


def pcn_prefix_indexes(keys: PhiKeys, tenant: str, number: str) -> list[str]:
    """The keyed hashes of a patient control number's proper prefixes (835 matching rule 4:
    a payer that truncated CLP01); the number itself is never stored."""
    return sorted({keys.index(tenant, PATIENT_CONTROL_NUMBER, prefix)
                   for prefix in prefixes_of(normalized(number))} - {""})


def claims_handlers(keys: PhiKeys) -> dict[str, Handler]:
    """claim_refs from the claims service's events: matching facts by keyed hash only."""

    def icn_index(tenant: str, index: str, d: Delivery, legacy: tuple[tuple[str, ...], int]
                  ) -> str:  # fmt: skip
        if index:
            return index
        return keys.index(tenant, PAYER_CLAIM_NUMBER, _legacy_plain(d, *legacy))

    async def claim_registered(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
        registered = d.message_as(claims_v1.ClaimRegistered)
        claim = registered.claim
        tenant = d.tenant_id
        sealed = claim.patient_control_number_sealed
        # The prefixes need the number: unsealed here, in memory, and only hashed.
        number = keys.unseal(sealed) if sealed else _legacy_plain(d, *_LEGACY_PCN)
        pcn_index = claim.patient_control_number_index or keys.index(
            tenant, PATIENT_CONTROL_NUMBER, number)
        original_icn = icn_index(
            tenant, registered.original_payer_claim_control_number_index, d, _LEGACY_ORIGINAL_ICN)
        lines = claim.lines
        service_dates = sorted(x.service_date for x in lines if x.service_date)
        charge = claim.total_billed_cents or sum(x.billed_cents for x in lines)
        provider = claim.provider
        await conn.execute(
            """INSERT INTO claim_refs (tenant_id, claim_id, pcn_index, pcn_prefix_indexes,
                icn_indexes, billing_npi, billing_tin, first_service_date, charge_cents,
                payer_id, lines)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)
                ON CONFLICT (tenant_id, claim_id) DO UPDATE SET
                  pcn_index = EXCLUDED.pcn_index,
                  pcn_prefix_indexes = EXCLUDED.pcn_prefix_indexes,
                  lines = EXCLUDED.lines,
                  billing_npi = EXCLUDED.billing_npi, billing_tin = EXCLUDED.billing_tin,
                  first_service_date = EXCLUDED.first_service_date,
                  charge_cents = EXCLUDED.charge_cents, payer_id = EXCLUDED.payer_id,
                  icn_indexes = ARRAY(SELECT DISTINCT unnest(claim_refs.icn_indexes
                                                             || EXCLUDED.icn_indexes))""",
            tenant,
            d.envelope.claim_id or d.envelope.aggregate_id,
            pcn_index,
            pcn_prefix_indexes(keys, tenant, number),
            [original_icn] if original_icn else [],
            provider.npi,
            provider.tin,
            _date(service_dates[0]) if service_dates else None,
            charge,
            claim.payer.payer_id,
            json.dumps(claim_lines(lines)),
        )

    async def adjudication_recorded(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
        recorded = d.message_as(claims_v1.AdjudicationRecorded)
        icn = icn_index(d.tenant_id, recorded.adjudication.payer_claim_control_number_index, d,
                        _LEGACY_ADJUDICATION_ICN)
        await _add_icn(conn, s, d.tenant_id, d.envelope.claim_id or d.envelope.aggregate_id,
                       icn)

    return {
        "ClaimRegistered": claim_registered,
        "AdjudicationRecorded": adjudication_recorded,
        "ClaimTriaged": _claim_triaged,
    }


async def _add_icn(
    conn: asyncpg.Connection, s: str, tenant: str, claim_id: str, icn_index: str
) -> None:
    if not icn_index:
        return
    await conn.execute(
        """INSERT INTO claim_refs (tenant_id, claim_id, icn_indexes) VALUES ($1, $2, $3)
            ON CONFLICT (tenant_id, claim_id) DO UPDATE SET icn_indexes = CASE
              WHEN $4 = ANY(claim_refs.icn_indexes) THEN claim_refs.icn_indexes
              ELSE claim_refs.icn_indexes || $4::text END""",
        tenant,
        claim_id,
        [icn_index],
        icn_index,
    )


async def _claim_triaged(conn: asyncpg.Connection, s: str, d: Delivery) -> None:
    triaged = d.message_as(claims_v1.ClaimTriaged)
    await conn.execute(
        """INSERT INTO claim_refs (tenant_id, claim_id, nsa_protected, payer_id)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (tenant_id, claim_id) DO UPDATE SET nsa_protected = EXCLUDED.nsa_protected,
              payer_id = CASE WHEN claim_refs.payer_id = '' THEN EXCLUDED.payer_id
                              ELSE claim_refs.payer_id END""",
        d.tenant_id,
        d.envelope.claim_id or d.envelope.aggregate_id,
        triaged.nsa_protected,
        triaged.payer_id,
    )


# -- settlement's own events -> settlements, payments, journal, remittances, exceptions -------
async def _journal(
    conn: asyncpg.Connection, s: str, d: Delivery, claim_id: str, remittance_id: str
) -> None:
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
    await _add_icn(conn, s, d.tenant_id, _claim(d), icn_index)
    await _journal(conn, s, d, _claim(d), p["remittance_id"])


async def _payment_icn(conn: asyncpg.Connection, s: str, d: Delivery, *, keys: PhiKeys) -> None:
    await _add_icn(conn, s, d.tenant_id, _claim(d),
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
        "UPDATE payment_exceptions SET resolved_claim_id = $3 "
        "WHERE tenant_id = $1 AND exception_id = $2",
        d.tenant_id,
        d.envelope.aggregate_id,
        d.payload["claim_id"],
    )


# claim_refs also learns the ICNs of settlement's own payments (`_payment_posted`): a rebuild of
# claim_refs replays these after the claims events (services/ops/rebuild.py).
CLAIM_REFS_FROM_SETTLEMENT_EVENTS = ("PaymentPosted",)


def claim_refs_from_settlement(keys: PhiKeys) -> dict[str, Handler]:
    return {"PaymentPosted": partial(_payment_icn, keys=keys)}


def settlement_handlers(keys: PhiKeys) -> dict[str, Handler]:
    """The read models of settlement's own events (identifiers tokenized with `keys`)."""
    return {
        **_SETTLEMENT_HANDLERS,
        "SettlementOpened": partial(_settlement_opened, keys=keys),
        "PaymentPosted": partial(_payment_posted, keys=keys),
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
