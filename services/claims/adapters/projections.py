"""The claims read model (asyncpg): one row per claim, fed by the service's own event stream.

ListClaims and ClaimsWorkQueue read it (adapters/sql.py) instead of replaying aggregates. Rows
are updated by the projection consumer; the row and the consumer's tracking position commit
together.

The patient control number is never stored in plain text (issue 21 item 5): a row keeps its
keyed hash (`patient_control_number_index`, what a search by PCN compares) and its sealed form
(`patient_control_number_sealed`, unsealed when a list or work queue displays it), both as
ClaimRegistered published them. A ClaimRegistered published before the contract carried them
holds the plain number; the projection tokenizes it here (it has the PHI key), so a rebuild from
a stream with such messages yields the same rows.
"""

# SQL text interpolates only the schema identifier (validated below); values are always bind
# parameters.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from google.protobuf.unknown_fields import UnknownFieldSet

from oonledger.claims.v1 import events_pb2 as v1
from services.claims.domain import appeals
from services.common import phi
from services.common.consumer import ArrivedEarly, Delivery
from services.common.contracts import PROTOBUF

TABLE = "claims_read"
APPEALS_RULE_SET = appeals.RULE_SET_VERSION
WRITE_OFF_AFTER = timedelta(days=30)
# Events that update a claim's row: each needs the row its ClaimRegistered creates.
UPDATES = frozenset({
    "AdjudicationRecorded", "ClaimTriaged", "CleanClaimChecked", "ClaimReplaced", "ClaimVoided",
    "AppealFiled", "AppealDecisionRecorded", "ClaimStageReached", "ClaimUpdated", "ClaimWithdrawn",
    "NegotiationRefusalRecorded",
})


def schema_identifier(schema: str) -> str:
    """The schema name, refused unless it is a plain identifier (it is interpolated in SQL)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", schema):
        raise ValueError(f"not a safe schema identifier: {schema!r}")
    return schema


def _ddl(schema: str) -> list[str]:
    t = f'"{schema}".{TABLE}'
    return [
        f'CREATE SCHEMA IF NOT EXISTS "{schema}"',
        f"""CREATE TABLE IF NOT EXISTS {t} (
            claim_id uuid PRIMARY KEY,
            tenant_id text NOT NULL,
            client_id text NOT NULL,
            payer_id text NOT NULL,
            patient_control_number_index text NOT NULL,
            patient_control_number_sealed text NOT NULL,
            claim_type text NOT NULL,
            frequency text NOT NULL,
            original_claim_id text NOT NULL DEFAULT '',
            status text NOT NULL,
            status_version bigint NOT NULL,
            route text,
            nsa_protected boolean,
            worth_negotiating boolean,
            total_billed_cents bigint NOT NULL,
            paid_cents bigint,
            adjudicated boolean NOT NULL DEFAULT false,
            clean boolean,
            blocking_findings integer NOT NULL DEFAULT 0,
            appeal_filing_deadline date,
            open_appeal_id text,
            open_appeal_deadline date,
            first_service_date date NOT NULL,
            registered_at timestamptz NOT NULL,
            version bigint NOT NULL
        )""",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_tenant_order ON {t} "
        "(tenant_id, registered_at, claim_id)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_tenant_client ON {t} (tenant_id, client_id)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_tenant_payer ON {t} (tenant_id, payer_id)",
        # A read model created before the PCN was tokenized: the plain column goes, the new ones
        # come empty; `python -m services.ops.rebuild claims read-model` fills them
        # (docs/operations.md).
        f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS patient_control_number_index text "
        "NOT NULL DEFAULT ''",
        f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS patient_control_number_sealed text "
        "NOT NULL DEFAULT ''",
        f"ALTER TABLE {t} DROP COLUMN IF EXISTS patient_control_number",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_tenant_pcn ON {t} "
        "(tenant_id, patient_control_number_index)",
        # The work the claim waits for (issue 22 item 2): the denial's action, its due date,
        # the rule that set it, why, and the rule set; the queue lists one item per action.
        *(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {column}" for column in (
            "action text", "action_due date", "action_rule text NOT NULL DEFAULT ''",
            "action_reason text NOT NULL DEFAULT ''",
            "action_rule_set_version text NOT NULL DEFAULT ''")),
    ]


class ClaimsReadModel:
    """The read model's table and its projection (queries: adapters/sql.py)."""

    def __init__(self, pool: asyncpg.Pool, schema: str, keys: phi.PhiKeys) -> None:
        self.pool = pool
        self.keys = keys
        self.schema = schema_identifier(schema)
        self.table = f'"{self.schema}".{TABLE}'

    async def migrate(self, pool: asyncpg.Pool | None = None) -> None:
        async with (pool or self.pool).acquire() as conn:
            for statement in _ddl(self.schema):
                await conn.execute(statement)

    # -- projection -------------------------------------------------------------------------
    async def project(self, conn: asyncpg.Connection, delivery: Delivery) -> None:
        env, p = delivery.envelope, delivery.payload
        claim_id = UUID(env.aggregate_id)
        version = env.aggregate_version
        kind = env.event_type
        if kind in UPDATES and not await conn.fetchval(
            f"SELECT true FROM {self.table} WHERE claim_id = $1 FOR UPDATE", claim_id
        ):
            # Order-safe: an update never lands on a row that does not exist yet (it would be
            # lost); it waits until the claim's ClaimRegistered has been projected.
            raise ArrivedEarly(f"{kind} for claim {claim_id} before its ClaimRegistered")
        if kind == "ClaimRegistered":
            claim = p["claim"]
            index, sealed = self._pcn_tokens(delivery)
            await conn.execute(
                f"INSERT INTO {self.table} (claim_id, tenant_id, client_id, payer_id, "
                "patient_control_number_index, patient_control_number_sealed, claim_type, "
                "frequency, original_claim_id, status, status_version, total_billed_cents, "
                "first_service_date, registered_at, version) "
                "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,'registered',$10,$11,$12,$13,$10) "
                "ON CONFLICT (claim_id) DO NOTHING",
                claim_id,
                env.tenant_id,
                claim["client_id"],
                claim["payer"]["payer_id"],
                index,
                sealed,
                claim["claim_type"],
                p["frequency"],
                p["original_claim_id"],
                version,
                claim["billed_cents"],
                min(date.fromisoformat(line["service_date"]) for line in claim["lines"]),
                env.occurred_at.ToDatetime().replace(tzinfo=UTC),
            )
            return
        if kind == "AdjudicationRecorded":
            adj = p["adjudication"]
            deadline = p.get("appeal_filing_deadline") or None
            await conn.execute(
                f"UPDATE {self.table} SET paid_cents = $2, adjudicated = true, "
                "appeal_filing_deadline = $3 WHERE claim_id = $1",
                claim_id,
                adj["paid_cents"],
                date.fromisoformat(deadline) if deadline else None,
            )
            remedy = p.get("primary_remedy") or ""
            await self._action(
                conn, claim_id, remedy if remedy != "nothing_to_do" else None,
                p.get("action_due_date") or deadline, p.get("action_rule") or "",
                p.get("action_reason") or "", p.get("rule_set_version") or "")
            await self._status(conn, claim_id, p["status"], version)
        elif kind == "ClaimTriaged":
            await conn.execute(
                f"UPDATE {self.table} SET route = $2, nsa_protected = $3, worth_negotiating = $4 "
                "WHERE claim_id = $1",
                claim_id,
                p["route"],
                p["nsa_protected"],
                p["worth_negotiating"],
            )
        elif kind == "CleanClaimChecked":
            blocking = sum(1 for f in p["findings"] if f["blocking"])
            await conn.execute(
                f"UPDATE {self.table} SET clean = $2, blocking_findings = $3 WHERE claim_id = $1",
                claim_id,
                p["clean"],
                blocking,
            )
            await self._status(conn, claim_id, p["status"], version)
        elif kind == "ClaimUpdated":
            await self._updated(conn, claim_id, delivery)
            await self._status(conn, claim_id, "registered", version)
        elif kind == "ClaimWithdrawn":
            await self._status(conn, claim_id, "withdrawn", version)
        elif kind in ("ClaimReplaced", "ClaimVoided"):
            status = "replaced" if kind == "ClaimReplaced" else "voided"
            await self._status(conn, claim_id, status, version)
        elif kind == "AppealFiled":
            appeal = p["appeal"]
            await conn.execute(
                f"UPDATE {self.table} SET open_appeal_id = $2, open_appeal_deadline = $3, "
                "appeal_filing_deadline = NULL, action = NULL WHERE claim_id = $1",
                claim_id,
                appeal["appeal_id"],
                date.fromisoformat(appeal["decision_due"]),
            )
            await self._status(conn, claim_id, "in_appeal", version)
        elif kind == "AppealDecisionRecorded":
            await conn.execute(
                f"UPDATE {self.table} SET open_appeal_id = NULL, open_appeal_deadline = NULL, "
                "paid_cents = GREATEST(COALESCE(paid_cents, 0), $2) WHERE claim_id = $1",
                claim_id,
                int(p.get("paid_cents") or 0),
            )
            await self._after_appeal(conn, claim_id, p)
            await self._status(conn, claim_id, p["status"], version)
        elif kind == "NegotiationRefusalRecorded":
            # Due: negotiation's open-negotiation notice deadline, as negotiation stated it.
            due = p.get("notice_due_on") or ""
            await self._action(
                conn, claim_id, "negotiation_refused", due or None,
                "NSA open-negotiation notice (T1): 30 business days beginning on the initial "
                "payment or denial (45 CFR 149.510(b)(1)), computed by negotiation" if due else "",
                f"negotiation refused to open: {p['reason']}", p.get("rule_set_version") or "")
        elif kind == "ClaimStageReached":
            await self._status(conn, claim_id, p["status"], version)
        await conn.execute(
            f"UPDATE {self.table} SET version = GREATEST(version, $2) WHERE claim_id = $1",
            claim_id,
            version,
        )

    async def _updated(self, conn: asyncpg.Connection, claim_id: UUID, delivery: Delivery) -> None:
        """The claim's facts as updated; its clean check and triage judged the old ones."""
        claim = delivery.payload["claim"]
        index, sealed = self._pcn_tokens(delivery)
        await conn.execute(
            f"UPDATE {self.table} SET client_id = $2, payer_id = $3, "
            "patient_control_number_index = $4, patient_control_number_sealed = $5, "
            "claim_type = $6, total_billed_cents = $7, first_service_date = $8, clean = NULL, "
            "blocking_findings = 0, route = NULL, nsa_protected = NULL, worth_negotiating = NULL "
            "WHERE claim_id = $1",
            claim_id,
            claim["client_id"],
            claim["payer"]["payer_id"],
            index,
            sealed,
            claim["claim_type"],
            claim["billed_cents"],
            min(date.fromisoformat(line["service_date"]) for line in claim["lines"]),
        )

    async def _action(self, conn: asyncpg.Connection, claim_id: UUID, action: str | None,
                      due: str | None, rule: str, reason: str, rule_set: str) -> None:
        await conn.execute(
            f"UPDATE {self.table} SET action = $2, action_due = $3, action_rule = $4, "
            "action_reason = $5, action_rule_set_version = $6 WHERE claim_id = $1",
            claim_id, action, date.fromisoformat(due) if due else None, rule, reason, rule_set)

    async def _after_appeal(self, conn: asyncpg.Connection, claim_id: UUID,
                            p: dict[str, Any]) -> None:
        """An upheld appeal opens the next level's window; an upheld external review leaves a
        write-off; an overturn leaves nothing to do (the payer pays)."""
        decided = f"{p.get('outcome', '')} on {p.get('decision_date', '')}"
        if p.get("next_level"):
            await self._action(
                conn, claim_id, "appeal", p.get("next_level_deadline"),
                p.get("next_level_rule") or "",
                f"appeal {decided}: file the {p['next_level']} appeal", APPEALS_RULE_SET)
        elif p.get("appeals_exhausted"):
            due = date.fromisoformat(p["decision_date"]) + WRITE_OFF_AFTER
            await self._action(
                conn, claim_id, "write_off", due.isoformat(),
                "write-off: post within 30 calendar days of the final decision (house rule)",
                f"appeals exhausted ({decided}): {p.get('next_level_rule', '')}",
                APPEALS_RULE_SET)
        else:
            await self._action(conn, claim_id, None, None, "", "", "")

    def _pcn_tokens(self, delivery: Delivery) -> tuple[str, str]:
        """The PCN's index and sealed form: as published, or from a message published before
        the contract tokenized it (the plain number, tokenized here with the PHI key)."""
        claim = delivery.payload["claim"]
        index = claim.get("patient_control_number_index") or ""
        sealed = claim.get("patient_control_number_sealed") or ""
        if index and sealed:
            return index, sealed
        plain = legacy_patient_control_number(delivery)
        tenant = delivery.envelope.tenant_id
        return (index or self.keys.index(tenant, phi.PATIENT_CONTROL_NUMBER, plain),
                sealed or self.keys.seal(plain))

    async def _status(self, conn: asyncpg.Connection, claim_id: UUID, status: str, v: int) -> None:
        # A redelivered older event must not overwrite a newer status.
        await conn.execute(
            f"UPDATE {self.table} SET status = $2, status_version = $3 "
            "WHERE claim_id = $1 AND status_version < $3",
            claim_id,
            status,
            v,
        )


def legacy_patient_control_number(delivery: Delivery) -> str:
    """The plain PCN of a ClaimRegistered published before the contract tokenized it: the JSON
    payload's `claim.patient_control_number`, or field 3 of the v1 message's claim (reserved
    since, so protobuf keeps it as an unknown field)."""
    env = delivery.envelope
    if not env.payload_content_type.startswith(PROTOBUF):
        return str(json.loads(env.payload)["claim"].get("patient_control_number", ""))
    message = v1.ClaimRegistered.FromString(env.payload)
    unknown: Iterable[Any] = UnknownFieldSet(message.claim)  # type: ignore[assignment]
    for field in unknown:
        if field.field_number == LEGACY_PCN_FIELD and isinstance(field.data, bytes):
            return field.data.decode()
    return ""


# ClaimRegistered.Claim's field number of the plain PCN before issue 21 (reserved now).
LEGACY_PCN_FIELD = 3
