"""claim_refs: what settlement knows about the claims service's claims, for 835 matching.

Fed by the claims service's ClaimRegistered, AdjudicationRecorded (its ICN, and that the claim
is adjudicated) and ClaimTriaged (and the ICNs of settlement's own payments and remitted initial
adjudications, projections.py). Identifiers are kept as keyed hashes only
(services/common/phi.py): the patient control number's index, the indexes of its proper
prefixes (rule 4, computed from its sealed value in memory) and the ICNs' indexes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from typing import Any

import asyncpg
from google.protobuf.unknown_fields import UnknownFieldSet

from oonledger.claims.v1 import events_pb2 as claims_v1
from services.common.consumer import Delivery
from services.common.contracts import PROTOBUF
from services.common.phi import PATIENT_CONTROL_NUMBER, PAYER_CLAIM_NUMBER, PhiKeys, normalized
from services.settlement.domain import ClaimLine, prefixes_of

Handler = Callable[[asyncpg.Connection, str, Delivery], Awaitable[None]]
# Handlers that need the deployment's PHI key.
KeyedHandlers = Callable[[PhiKeys], dict[str, Handler]]


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


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
        claim_id = d.envelope.claim_id or d.envelope.aggregate_id
        await conn.execute(
            """INSERT INTO claim_refs (tenant_id, claim_id, adjudicated) VALUES ($1, $2, true)
                ON CONFLICT (tenant_id, claim_id) DO UPDATE SET adjudicated = true""",
            d.tenant_id,
            claim_id,
        )
        await add_icn(conn, s, d.tenant_id, claim_id, icn)

    return {
        "ClaimRegistered": claim_registered,
        "AdjudicationRecorded": adjudication_recorded,
        "ClaimTriaged": _claim_triaged,
    }


async def add_icn(
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
