"""The work-queue read model (asyncpg): cases by next actionable deadline, assignee, status.

Built from the service's own Negotiation and FederalIdrDispute events (a dispute's events find
their row by claim: one negotiation per claim); the next deadline is recomputed from the row's
anchor dates with the same pure function the aggregate uses, so a calendar fix replays.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from services.common.consumer import ArrivedEarly, Delivery
from services.negotiation.domain.case_progress import CaseProgress, next_actionable
from services.negotiation.domain.deadlines import (
    CaseAnchors,
    DeadlineCode,
    DeadlineEngine,
    Extension,
)

TABLE = "work_queue"

# event type -> (statement, payload field holding the anchor date)
_DATE_UPDATES: dict[str, tuple[str, str]] = {
    "OpenNegotiationNoticeSent": (
        "UPDATE @table SET on_notice_sent_on = $2 WHERE negotiation_id = $1",
        "sent_on",
    ),
    "IdrInitiated": (
        "UPDATE @table SET idr_initiated_on = $2 WHERE negotiation_id = $1",
        "initiated_on",
    ),
    "IdreSelected": (
        "UPDATE @table SET idre_selected_on = $2 WHERE negotiation_id = $1",
        "selected_on",
    ),
    "IdrDetermined": (
        "UPDATE @table SET determined_on = $2 WHERE negotiation_id = $1",
        "determined_on",
    ),
}
# Events that cannot move the next actionable deadline (e.g. offers) skip its recomputation.
_CLOCK_EVENTS = frozenset(
    {
        "Opened",
        "OpenNegotiationNoticeSent",
        "DeadlineExtended",
        "IdrInitiated",
        "IdreSelected",
        "IdrOfferSubmitted",
        "IdrDetermined",
        "IdrClosed",
        "SettlementAgreed",
        "NegotiationClosed",
    }
)
_STATUS_BY_EVENT = {
    "IdrInitiated": "in_idr",
    "IdrDetermined": "determined",
    "IdrClosed": "closed",
    "SettlementAgreed": "agreed",
    "NegotiationClosed": "closed",
}


# Fields the latest event sets: the row keeps the aggregate version that set each, so an event
# that arrives after a later one never overwrites it. event -> (statement with $1 = negotiation
# id, $2 = value, $3 = the event's aggregate version; the payload field).
_LAST_OFFER = ("UPDATE @table SET last_offer_cents = $2, last_offer_version = $3"
               " WHERE negotiation_id = $1 AND last_offer_version < $3")
_LATEST: dict[str, tuple[str, str]] = {
    "OfferMade": (_LAST_OFFER, "amount_cents"),
    "CounterOfferMade": (_LAST_OFFER, "amount_cents"),
    "AssigneeChanged": ("UPDATE @table SET assignee = $2, assignee_version = $3"
                        " WHERE negotiation_id = $1 AND assignee_version < $3", "assignee"),
}


def _changes(kind: str, p: dict[str, Any]) -> list[tuple[str, Any]]:
    """(statement with $1 = negotiation id and $2 = value, value) pairs for one event."""
    changes: list[tuple[str, Any]] = []
    if kind in _DATE_UPDATES:
        statement, field = _DATE_UPDATES[kind]
        changes.append((statement, _day(p[field])))
    if kind == "DeadlineExtended":
        extension = {k: p[k] for k in ("deadline_code", "new_due_on", "reason")}
        changes.append(
            (
                "UPDATE @table SET extensions = extensions || $2::jsonb WHERE negotiation_id = $1",
                json.dumps([extension]),
            )
        )
    if kind == "IdrOfferSubmitted" and p["party"] == "provider":
        changes.append(
            ("UPDATE @table SET provider_idr_offer = $2 WHERE negotiation_id = $1", True)
        )
    if kind == "IdrInitiated":
        changes.append(("UPDATE @table SET batched = $2 WHERE negotiation_id = $1", p["batched"]))
    if kind == "SettlementAgreed" and p.get("during_idr"):
        changes.append(
            (
                "UPDATE @table SET settled_after_initiation_on = $2 WHERE negotiation_id = $1",
                _day(p["agreed_on"]),
            )
        )
    if kind in _STATUS_BY_EVENT:
        changes.append(
            ("UPDATE @table SET status = $2 WHERE negotiation_id = $1", _STATUS_BY_EVENT[kind])
        )
    return changes


def ddl(schema: str) -> str:
    return f"""
    CREATE TABLE IF NOT EXISTS "{schema}".{TABLE} (
        negotiation_id uuid PRIMARY KEY,
        tenant_id text NOT NULL,
        claim_id text NOT NULL,
        status text NOT NULL,
        assignee text NOT NULL,
        bill_received_on date,
        initial_payment_received_on date,
        on_notice_sent_on date,
        idr_initiated_on date,
        idre_selected_on date,
        determined_on date,
        settled_after_initiation_on date,
        batched boolean NOT NULL DEFAULT false,
        provider_idr_offer boolean NOT NULL DEFAULT false,
        extensions jsonb NOT NULL DEFAULT '[]',
        last_offer_cents bigint NOT NULL DEFAULT 0,
        last_offer_version bigint NOT NULL DEFAULT 0,
        assignee_version bigint NOT NULL DEFAULT 0,
        next_deadline_code text,
        next_deadline_on date,
        version bigint NOT NULL
    );
    ALTER TABLE "{schema}".{TABLE}
        ADD COLUMN IF NOT EXISTS last_offer_version bigint NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS assignee_version bigint NOT NULL DEFAULT 0;
    CREATE INDEX IF NOT EXISTS {TABLE}_queue
        ON "{schema}".{TABLE} (tenant_id, next_deadline_on);
    CREATE INDEX IF NOT EXISTS {TABLE}_claim
        ON "{schema}".{TABLE} (tenant_id, claim_id);
    """


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


class WorkQueue:
    def __init__(self, pool: asyncpg.Pool, schema: str, engine: DeadlineEngine) -> None:
        self.pool = pool
        self.schema = schema
        self.engine = engine
        self.table = f'"{schema}".{TABLE}'

    async def migrate(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            await conn.execute(ddl(self.schema))

    def sql(self, template: str) -> str:
        """Put the table name into a statement: only the configured schema is interpolated."""
        return template.replace("@table", self.table)

    async def apply(self, conn: asyncpg.Connection, delivery: Delivery) -> None:
        """Fold one Negotiation or FederalIdrDispute event into the case's row."""
        env = delivery.envelope
        kind = env.event_type
        if env.aggregate_type == "Negotiation":
            nid, version = env.aggregate_id, env.aggregate_version
        elif env.aggregate_type == "FederalIdrDispute":
            # A dispute's row is its negotiation's (one per claim); its own version stays out.
            nid, version = await self._negotiation_of(conn, env.tenant_id, env.claim_id, kind), 0
        else:
            return
        if kind == "Opened":
            p = delivery.payload
            await conn.execute(
                self.sql(
                    "INSERT INTO @table (negotiation_id, tenant_id, claim_id, status, assignee,"
                    " bill_received_on, initial_payment_received_on, version)"
                    " VALUES ($1, $2, $3, 'open', $4, $5, $6, $7) ON CONFLICT DO NOTHING"
                ),
                nid,
                env.tenant_id,
                p["claim_id"],
                p["assignee"],
                _day(p.get("bill_received_on")),
                _day(p["initial_payment_received_on"]),
                version,
            )
        else:
            changes = list(_changes(kind, delivery.payload))
            if (changes or kind in _CLOCK_EVENTS or kind in _LATEST) and not await conn.fetchval(
                self.sql("SELECT true FROM @table WHERE negotiation_id = $1 FOR UPDATE"), nid
            ):
                # Order-safe: an update must not be lost on a row its Opened has not made yet.
                raise ArrivedEarly(f"{kind} for negotiation {nid} before its Opened")
            for statement, value in changes:
                await conn.execute(self.sql(statement), nid, value)
            if kind in _LATEST:
                statement, field = _LATEST[kind]
                await conn.execute(self.sql(statement), nid, delivery.payload[field], version)
        if kind in _CLOCK_EVENTS:
            await self._refresh_next_deadline(conn, nid, version)

    async def _negotiation_of(
        self, conn: asyncpg.Connection, tenant_id: str, claim_id: str, kind: str
    ) -> str:
        nid = await conn.fetchval(
            self.sql("SELECT negotiation_id FROM @table WHERE tenant_id = $1 AND claim_id = $2"),
            tenant_id,
            claim_id,
        )
        if nid is None:
            raise ArrivedEarly(f"{kind} for claim {claim_id} before its negotiation's Opened")
        return str(nid)

    async def _refresh_next_deadline(
        self, conn: asyncpg.Connection, negotiation_id: str, version: int
    ) -> None:
        row = await conn.fetchrow(
            self.sql("SELECT * FROM @table WHERE negotiation_id = $1"), negotiation_id
        )
        if row is None:
            return
        upcoming = next_actionable(progress_of(row), self.engine)
        await conn.execute(
            self.sql(
                "UPDATE @table SET next_deadline_code = $2, next_deadline_on = $3,"
                " version = GREATEST(version, $4) WHERE negotiation_id = $1"
            ),
            negotiation_id,
            upcoming.code.value if upcoming else None,
            upcoming.due if upcoming else None,
            version,
        )

    async def list(
        self,
        tenant_id: str,
        *,
        assignee: str = "",
        status: str = "",
        due_on_or_before: date | None = None,
        limit: int = 100,
    ) -> list[WorkItem]:
        rows = await self.pool.fetch(
            self.sql(
                "SELECT negotiation_id, claim_id, status, assignee, next_deadline_code,"
                " next_deadline_on, last_offer_cents FROM @table"
                " WHERE tenant_id = $1 AND ($2 = '' OR assignee = $2) AND ($3 = '' OR status = $3)"
                " AND ($4::date IS NULL OR next_deadline_on <= $4)"
                " ORDER BY next_deadline_on NULLS LAST, negotiation_id LIMIT $5"
            ),
            tenant_id,
            assignee,
            status,
            due_on_or_before,
            limit,
        )
        return [
            WorkItem(
                negotiation_id=str(r["negotiation_id"]),
                claim_id=r["claim_id"],
                status=r["status"],
                assignee=r["assignee"],
                next_deadline_code=r["next_deadline_code"] or "",
                next_deadline_on=r["next_deadline_on"],
                last_offer_cents=r["last_offer_cents"],
            )
            for r in rows
        ]

    async def due_between(self, tenant_id: str, first: date, last: date) -> tuple[str, ...]:
        """Cases of a tenant whose next deadline falls in [first, last]."""
        rows = await self.pool.fetch(
            self.sql(
                "SELECT negotiation_id FROM @table WHERE tenant_id = $1"
                " AND next_deadline_on BETWEEN $2 AND $3 ORDER BY next_deadline_on, negotiation_id"
            ),
            tenant_id,
            first,
            last,
        )
        return tuple(str(r["negotiation_id"]) for r in rows)

    async def negotiation_ids(self, tenant_id: str) -> tuple[str, ...]:
        """Every case of a tenant (its whole book), in claim order."""
        rows = await self.pool.fetch(
            self.sql(
                "SELECT negotiation_id FROM @table WHERE tenant_id = $1"
                " ORDER BY claim_id, negotiation_id"
            ),
            tenant_id,
        )
        return tuple(str(r["negotiation_id"]) for r in rows)

    async def tenants_with_deadlines_from(self, first: date) -> tuple[str, ...]:
        rows = await self.pool.fetch(
            self.sql(
                "SELECT DISTINCT tenant_id FROM @table WHERE next_deadline_on >= $1"
                " ORDER BY tenant_id"
            ),
            first,
        )
        return tuple(r["tenant_id"] for r in rows)


@dataclass(frozen=True)
class WorkItem:
    negotiation_id: str
    claim_id: str
    status: str
    assignee: str
    next_deadline_code: str
    next_deadline_on: date | None
    last_offer_cents: int


def progress_of(row: Any) -> CaseProgress:
    extensions = (
        json.loads(row["extensions"]) if isinstance(row["extensions"], str) else row["extensions"]
    )
    return CaseProgress(
        status=row["status"],
        anchors=CaseAnchors(
            bill_received=row["bill_received_on"],
            initial_payment_received=row["initial_payment_received_on"],
            on_notice_sent=row["on_notice_sent_on"],
            idr_initiated=row["idr_initiated_on"],
            idre_selected=row["idre_selected_on"],
            determination=row["determined_on"],
            settled_after_initiation=row["settled_after_initiation_on"],
            batched=row["batched"],
        ),
        extensions=tuple(
            Extension(
                DeadlineCode(e["deadline_code"]), date.fromisoformat(e["new_due_on"]), e["reason"]
            )
            for e in extensions
        ),
        idre_selected=row["idre_selected_on"] is not None,
        provider_idr_offer_submitted=row["provider_idr_offer"],
    )
