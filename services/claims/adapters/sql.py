"""Queries over the claims read model (adapters/projections.py writes it): ListClaims and the
work queue. The patient control number is searched by its keyed hash and shown unsealed.
"""

# SQL text interpolates only the schema identifier (validated by the read model); values are
# always bind parameters.
# ruff: noqa: S608

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.claims.adapters.projections import TABLE, schema_identifier
from services.claims.domain import ClaimStatus, Route
from services.common import phi
from services.common.errors import InvalidArgument


@dataclass(frozen=True)
class ClaimQuery:
    """ListClaims' filters and page ("" / None: not filtered)."""

    client_id: str = ""
    payer_id: str = ""
    patient_control_number: str = ""
    status: ClaimStatus | None = None
    route: Route | None = None
    date_from: date | None = None
    date_to: date | None = None
    page_size: int = 100
    page_token: str = ""


@dataclass(frozen=True)
class ClaimRow:
    """One claim of a ListClaims page (the PCN unsealed for display)."""

    claim_id: UUID
    client_id: str
    payer_id: str
    patient_control_number: str
    status: str
    route: str
    nsa_protected: bool
    total_billed_cents: int
    paid_cents: int
    first_service_date: date
    version: int


@dataclass(frozen=True)
class WorkRow:
    kind: str
    claim_id: UUID
    patient_control_number: str
    detail: str
    due: date | None
    rule: str = ""
    rule_set_version: str = ""



class ClaimsQueries:
    """The read model's queries, for the gRPC layer."""

    def __init__(self, pool: asyncpg.Pool, schema: str, keys: phi.PhiKeys) -> None:
        self.pool = pool
        self.keys = keys
        self.table = f'"{schema_identifier(schema)}".{TABLE}'

    async def list_claims(self, tenant_id: str, query: ClaimQuery) -> tuple[list[ClaimRow], str]:
        where = ["tenant_id = $1"]
        args: list[Any] = [tenant_id]

        def add(clause: str, value: Any) -> None:
            args.append(value)
            where.append(clause.replace("?", f"${len(args)}"))

        if query.client_id:
            add("client_id = ?", query.client_id)
        if query.payer_id:
            add("payer_id = ?", query.payer_id)
        if query.patient_control_number:
            # Only the keyed hash is stored: the query is hashed the same way (exact match).
            add("patient_control_number_index = ?", self.keys.index(
                tenant_id, phi.PATIENT_CONTROL_NUMBER, query.patient_control_number))
        if query.status is not None:
            add("status = ?", query.status.value)
        if query.route is not None:
            add("route = ?", query.route.value)
        if query.date_from is not None:
            add("first_service_date >= ?", query.date_from)
        if query.date_to is not None:
            add("first_service_date <= ?", query.date_to)
        if query.page_token:
            after_time, after_id = _decode_token(query.page_token)
            args.extend([after_time, after_id])
            where.append(f"(registered_at, claim_id) > (${len(args) - 1}, ${len(args)})")
        limit = query.page_size
        args.append(limit + 1)
        rows = await self.pool.fetch(
            f"SELECT * FROM {self.table} WHERE {' AND '.join(where)} "
            f"ORDER BY registered_at, claim_id LIMIT ${len(args)}",
            *args,
        )
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            token = _encode_token(rows[-1]["registered_at"], rows[-1]["claim_id"])
        return [self._summary(r) for r in rows], token

    async def claims_by_pcn(
        self, tenant_id: str, pcns: Iterable[str]
    ) -> dict[str, tuple[str, ...]]:
        """The tenant's claim ids under each patient control number (by its keyed hash, exact,
        case-insensitive): the candidates for an imported 7/8's original."""
        wanted = {self.keys.index(tenant_id, phi.PATIENT_CONTROL_NUMBER, p): p for p in pcns}
        if not wanted:
            return {}
        rows = await self.pool.fetch(
            f"SELECT claim_id, patient_control_number_index FROM {self.table} "
            "WHERE tenant_id = $1 AND patient_control_number_index = ANY($2::text[]) "
            "ORDER BY registered_at, claim_id",
            tenant_id, list(wanted),
        )
        found: dict[str, list[str]] = {}
        for r in rows:
            found.setdefault(wanted[r["patient_control_number_index"]], []).append(
                str(r["claim_id"]))
        return {pcn: tuple(ids) for pcn, ids in found.items()}

    def _summary(self, r: asyncpg.Record) -> ClaimRow:
        return ClaimRow(
            claim_id=r["claim_id"],
            client_id=r["client_id"],
            payer_id=r["payer_id"],
            patient_control_number=self.keys.unseal(r["patient_control_number_sealed"]),
            status=r["status"],
            route=r["route"] or "",
            nsa_protected=bool(r["nsa_protected"]),
            total_billed_cents=r["total_billed_cents"],
            paid_cents=r["paid_cents"] or 0,
            first_service_date=r["first_service_date"],
            version=r["version"],
        )

    async def work_queue(self, tenant_id: str, client_id: str, limit: int) -> list[WorkRow]:
        client = "AND client_id = $2" if client_id else "AND $2 = ''"
        rows = await self.pool.fetch(
            f"""
            SELECT 'blocking_findings' AS kind, claim_id, patient_control_number_sealed,
                   blocking_findings::text || ' blocking finding(s)' AS detail, NULL::date AS due,
                   '' AS rule, '' AS rule_set_version
              FROM {self.table}
             WHERE tenant_id = $1 {client} AND clean = false AND status = 'registered'
            UNION ALL
            SELECT 'awaiting_adjudication', claim_id, patient_control_number_sealed,
                   'frequency ' || frequency || ' resubmission of ' || original_claim_id, NULL,
                   '', ''
              FROM {self.table}
             WHERE tenant_id = $1 {client} AND frequency IN ('7', '8') AND NOT adjudicated
               AND status NOT IN ('replaced', 'voided')
            UNION ALL
            SELECT action, claim_id, patient_control_number_sealed, action_reason, action_due,
                   action_rule, action_rule_set_version
              FROM {self.table}
             WHERE tenant_id = $1 {client} AND action IS NOT NULL AND open_appeal_id IS NULL
               AND status IN ('denied', 'paid', 'appeal_upheld', 'appeal_overturned')
            UNION ALL
            SELECT 'appeal_due', claim_id, patient_control_number_sealed,
                   'appeal filed: the payer owes its decision', open_appeal_deadline,
                   'appeal decision due: 60 calendar days after filing (29 CFR '
                   || '2560.503-1(i)(2)(iii)); external review 45 (45 CFR 147.136(d))', ''
              FROM {self.table}
             WHERE tenant_id = $1 {client} AND open_appeal_id IS NOT NULL
            ORDER BY due NULLS LAST, claim_id
            LIMIT $3
            """,
            tenant_id,
            client_id,
            limit,
        )
        return [
            WorkRow(r["kind"], r["claim_id"],
                    self.keys.unseal(r["patient_control_number_sealed"]), r["detail"], r["due"],
                    r["rule"] or "", r["rule_set_version"] or "")
            for r in rows
        ]


def _encode_token(registered_at: datetime, claim_id: UUID) -> str:
    raw = f"{registered_at.isoformat()}|{claim_id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str) -> tuple[datetime, UUID]:
    try:
        when, claim_id = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return datetime.fromisoformat(when), UUID(claim_id)
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument("not a page token from this API", "page_token") from None
