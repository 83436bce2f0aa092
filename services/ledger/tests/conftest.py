"""Fixtures for ledger store tests: a fresh schema per test on the session's PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from services.ledger.adapters.appender import Appender
from services.ledger.adapters.sql_reader import LogReader
from services.ledger.adapters.sql_schema import migrate, writer_pool
from tests.support.plugin import InfraUrls


@dataclass
class LedgerStore:
    schema: str
    admin: asyncpg.Pool
    pool: asyncpg.Pool
    appender: Appender
    reader: LogReader


@pytest.fixture
async def store(infra_urls: InfraUrls, namespace: str) -> AsyncIterator[LedgerStore]:
    schema = f"{namespace}_ledger_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.create_pool(infra_urls.database_url, min_size=1, max_size=2)
    await migrate(admin, schema)
    pool = await writer_pool(infra_urls.database_url, schema, max_size=4)
    appender = Appender(pool, schema)
    await appender.start()
    store = LedgerStore(schema, admin, pool, appender, LogReader(pool))
    yield store
    await store.appender.close()  # the test may have replaced it
    await pool.close()
    await admin.close()
