"""The 837 envelope's control numbers (ISA13, GS06, ST02): a durable counter per sender.

A clearinghouse rejects an interchange whose ISA13 it has already seen from the same sender, so
every export takes the next number of its interchange sender id (ISA06) from a row of the claims
schema. The counter is the sender's, not the tenant's: tenants that submit under the same sender
id (the default `OONLEDGER`) share it, so the clearinghouse never sees a number twice; a tenant
sees gaps where another exported. One atomic upsert per export (INSERT .. ON CONFLICT DO
UPDATE .. RETURNING): concurrent exports serialise on the row and never get the same number; a
number is never given back (an export that fails after taking one leaves a gap, which X12
allows). Each interchange holds one group and one transaction, so the one number serves all
three; after 999999999 (ISA13's nine digits) it starts again at 1.
"""

# SQL text interpolates only the schema identifier (validated); values are bind parameters.
# ruff: noqa: S608

from __future__ import annotations

import asyncpg

from services.claims.adapters.projections import schema_identifier
from services.x12.writer_837 import MAX_CONTROL_NUMBER, ControlNumbers

TABLE = "x12_control_numbers"


class ControlNumberCounter:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.schema = schema_identifier(schema)
        self.table = f'"{self.schema}".{TABLE}'

    async def migrate(self, pool: asyncpg.Pool | None = None) -> None:
        async with (pool or self.pool).acquire() as conn:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await conn.execute(
                f"""CREATE TABLE IF NOT EXISTS {self.table} (
                    sender_id text PRIMARY KEY,
                    last_number bigint NOT NULL
                )"""
            )

    async def next(self, sender_id: str) -> ControlNumbers:
        """The next interchange's control numbers for this sender (1, 2, ...)."""
        async with self.pool.acquire() as conn:
            number = await conn.fetchval(
                f"INSERT INTO {self.table} AS c (sender_id, last_number) VALUES ($1, 1) "
                "ON CONFLICT (sender_id) "
                "DO UPDATE SET last_number = c.last_number % $2 + 1 RETURNING last_number",
                sender_id,
                MAX_CONTROL_NUMBER,
            )
        return ControlNumbers(interchange=number, group=number, transaction=number)
