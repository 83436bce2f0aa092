"""API keys in the gateway's own PostgreSQL schema (asyncpg): create, list, revoke, look up.

A revocation also sends a NOTIFY so running gateways drop the key from their cache at once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gateway import keys
from services.common.auth import ROLES

_MIGRATION_LOCK = 0x6A7E_0001  # arbitrary, fixed: serialises concurrent gateway start-ups
# The schema name is the only text put into SQL; it is checked against this pattern first.
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
# Both travel to the services as gRPC metadata (x-tenant-id, x-actor): printable ASCII only.
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
_LABEL = re.compile(r"[ -~]{0,100}")


@dataclass(frozen=True)
class KeyRecord:
    """A stored key (never the secret)."""

    key_id: str
    tenant_id: str
    roles: frozenset[str]
    label: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    rate_per_second: float
    burst: int

    @property
    def actor(self) -> str:
        """What the services record as the actor of this key's commands."""
        return f"apikey:{self.key_id}" + (f" ({self.label})" if self.label else "")

    def is_live(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True)
class CreatedKey:
    record: KeyRecord
    token: str  # shown once


class KeyStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        if not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.pool = pool
        self.schema = schema
        self.table = f'"{schema}".api_keys'
        self.channel = f"{schema}_key_revoked"

    async def migrate(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await conn.execute(
                f"""
                CREATE TABLE IF NOT EXISTS {self.table} (
                    key_id text PRIMARY KEY,
                    secret_sha256 bytea NOT NULL,
                    tenant_id text NOT NULL CHECK (tenant_id <> ''),
                    roles text[] NOT NULL,
                    label text NOT NULL DEFAULT '',
                    created_at timestamptz NOT NULL,
                    expires_at timestamptz NOT NULL,
                    revoked_at timestamptz,
                    rate_per_second double precision NOT NULL CHECK (rate_per_second > 0),
                    burst integer NOT NULL CHECK (burst >= 1)
                )"""
            )
            await conn.execute(
                f'CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON {self.table} (tenant_id)'
            )

    async def create(
        self,
        *,
        tenant_id: str,
        roles: Iterable[str],
        now: datetime,
        expires_at: datetime,
        label: str = "",
        rate_per_second: float = 50.0,
        burst: int = 100,
    ) -> CreatedKey:
        role_set = frozenset(r.strip() for r in roles if r.strip())
        problems = []
        if not _TENANT.fullmatch(tenant_id.strip()):
            problems.append("tenant must be 1-64 letters, digits, '.', '_', ':' or '-'")
        if not _LABEL.fullmatch(label):
            problems.append("label must be at most 100 printable ASCII characters")
        if not role_set:
            problems.append("at least one role is required")
        if role_set - ROLES:
            problems.append(f"unknown role(s): {', '.join(sorted(role_set - ROLES))}")
        if expires_at <= now:
            problems.append("expiry must be in the future")
        if rate_per_second <= 0 or burst < 1:
            problems.append("rate must be > 0 and burst >= 1")
        if problems:
            raise ValueError("; ".join(problems))
        issued = keys.issue(secrets.token_bytes(8), secrets.token_bytes(keys.SECRET_BYTES))
        row = await self.pool.fetchrow(
            f"""INSERT INTO {self.table} (key_id, secret_sha256, tenant_id, roles, label,
                    created_at, expires_at, rate_per_second, burst)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *""",  # noqa: S608
            issued.key_id, issued.secret_hash, tenant_id.strip(), sorted(role_set), label,
            now, expires_at, float(rate_per_second), int(burst),
        )
        return CreatedKey(_record(row), issued.token)

    async def find(self, key_id: str) -> tuple[KeyRecord, bytes] | None:
        query = f"SELECT * FROM {self.table} WHERE key_id = $1"  # noqa: S608
        row = await self.pool.fetchrow(query, key_id)
        if row is None:
            return None
        return _record(row), bytes(row["secret_sha256"])

    async def list(self, tenant_id: str | None = None) -> list[KeyRecord]:
        query = f"SELECT * FROM {self.table}"  # noqa: S608
        if tenant_id:
            rows = await self.pool.fetch(
                f"{query} WHERE tenant_id = $1 ORDER BY created_at", tenant_id
            )
        else:
            rows = await self.pool.fetch(f"{query} ORDER BY tenant_id, created_at")
        return [_record(row) for row in rows]

    async def revoke(self, key_id: str, now: datetime) -> bool:
        """Mark the key revoked (idempotent); False when no such key exists."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""UPDATE {self.table} SET revoked_at = coalesce(revoked_at, $2)
                    WHERE key_id = $1 RETURNING key_id""",  # noqa: S608
                key_id, now,
            )
            if row is None:
                return False
            await conn.execute("SELECT pg_notify($1, $2)", self.channel, key_id)
        return True


def _record(row: asyncpg.Record) -> KeyRecord:
    return KeyRecord(
        key_id=row["key_id"],
        tenant_id=row["tenant_id"],
        roles=frozenset(row["roles"]),
        label=row["label"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        rate_per_second=row["rate_per_second"],
        burst=row["burst"],
    )
