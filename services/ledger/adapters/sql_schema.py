"""The ledger's tables, append-only by trigger, and the INSERT/SELECT-only role it writes with."""

from __future__ import annotations

import re

import asyncpg

SCHEMA_NAME = re.compile(r"[a-z][a-z0-9_]{0,55}")
TABLES = (
    "audit_entries", "merkle_nodes", "checkpoints", "rejected_messages", "integrity_findings"
)


def writer_role(schema: str) -> str:
    return f"{schema}_writer"


def _ddl(schema: str) -> str:
    if not SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"invalid ledger schema name {schema!r}")
    s, role = f'"{schema}"', f'"{writer_role(schema)}"'
    triggers = "\n".join(
        f"""
        CREATE OR REPLACE TRIGGER append_only BEFORE UPDATE OR DELETE ON {s}.{table}
            FOR EACH ROW EXECUTE FUNCTION {s}.refuse_change();
        CREATE OR REPLACE TRIGGER append_only_truncate BEFORE TRUNCATE ON {s}.{table}
            FOR EACH STATEMENT EXECUTE FUNCTION {s}.refuse_change();"""
        for table in TABLES
    )
    # Identifiers are validated above; DDL cannot take bind parameters.
    return f"""
    CREATE SCHEMA IF NOT EXISTS {s};
    CREATE TABLE IF NOT EXISTS {s}.audit_entries (
        log_index bigint PRIMARY KEY,
        event_id text NOT NULL UNIQUE,
        chain text NOT NULL,
        chain_seq bigint NOT NULL,
        tenant_id text NOT NULL,
        claim_id text NOT NULL,
        service text NOT NULL,
        notification_id bigint NOT NULL,
        aggregate_type text NOT NULL,
        aggregate_id text NOT NULL,
        aggregate_version bigint NOT NULL,
        event_type text NOT NULL,
        schema_version integer NOT NULL,
        occurred_at timestamptz NOT NULL,
        recorded_at timestamptz NOT NULL,
        actor text NOT NULL,
        request_id text NOT NULL,
        correlation_id text NOT NULL,
        causation_id text NOT NULL,
        traceparent text NOT NULL,
        tracestate text NOT NULL,
        payload bytea NOT NULL,
        payload_content_type text NOT NULL,
        prev_hash bytea NOT NULL,
        entry_hash bytea NOT NULL,
        UNIQUE (chain, chain_seq)
    );
    CREATE TABLE IF NOT EXISTS {s}.merkle_nodes (
        level smallint NOT NULL,
        idx bigint NOT NULL,
        hash bytea NOT NULL,
        PRIMARY KEY (level, idx)
    );
    CREATE TABLE IF NOT EXISTS {s}.checkpoints (
        tree_size bigint PRIMARY KEY,
        origin text NOT NULL,
        root_hash bytea NOT NULL,
        issued_at timestamptz NOT NULL,
        key_id text NOT NULL,
        public_key bytea NOT NULL,
        signature bytea NOT NULL
    );
    CREATE TABLE IF NOT EXISTS {s}.rejected_messages (
        stream text NOT NULL,
        stream_seq bigint NOT NULL,
        subject text NOT NULL,
        reason text NOT NULL,
        data bytea NOT NULL,
        received_at timestamptz NOT NULL,
        PRIMARY KEY (stream, stream_seq)
    );
    -- What the appender found in the table that it did not write (domain/appending.py).
    CREATE TABLE IF NOT EXISTS {s}.integrity_findings (
        chain text NOT NULL,
        log_index bigint NOT NULL,
        event_id text NOT NULL,
        detail text NOT NULL,
        found_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (chain, log_index, event_id)
    );
    CREATE OR REPLACE FUNCTION {s}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit ledger is append-only: % on %.% refused',
            TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
    END $$;
    {triggers}
    DO $$ BEGIN
        -- Normally created beforehand by deploy/schema_setup.py (the owner then needs no
        -- CREATEROLE); created here for development databases.
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{writer_role(schema)}') THEN
            CREATE ROLE {role} NOLOGIN;
        END IF;
        IF NOT pg_has_role(current_user, '{writer_role(schema)}', 'MEMBER') THEN
            GRANT {role} TO CURRENT_USER;
        END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- a concurrent creator won
    END $$;
    GRANT USAGE ON SCHEMA {s} TO {role};
    REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {role};
    GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {s} TO {role};
    """  # noqa: S608


async def migrate(pool: asyncpg.Pool, schema: str) -> None:
    """Create or update the schema (idempotent; replicas starting together take turns)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", schema)
        await conn.execute(_ddl(schema))


async def writer_pool(dsn: str, schema: str, max_size: int = 8) -> asyncpg.Pool:
    """Connections that act as the INSERT/SELECT-only role, with the ledger schema in scope.

    Locally the login (a superuser in development) switches role at connection start-up;
    in production DATABASE_URL should log in as a member of the writer role directly.
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=max_size,
        server_settings={"role": writer_role(schema), "search_path": schema},
    )
    if pool is None:  # asyncpg types create_pool as Optional
        raise RuntimeError("could not create the ledger pool")
    return pool
