"""The schema set-up job against a real PostgreSQL: creates every service's schema, is
idempotent, and concurrent runs (a retried Job beside its first attempt) do not fail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import psycopg
import pytest
from psycopg import sql

from deploy.catalog import SCHEMA_OWNERS
from deploy.schema_setup import ledger_schema, main, schema_names
from services.ledger.adapters.sql_schema import migrate as ledger_migrate
from services.ledger.adapters.sql_schema import writer_role
from tests.support.plugin import InfraUrls


@pytest.fixture
def database_url(infra_urls: InfraUrls) -> str:
    return infra_urls.database_url


@pytest.fixture
def namespace(database_url: str) -> Iterator[str]:
    name = f"deploytest_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as connection:
        for schema in schema_names(name):
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )
        role = sql.Identifier(writer_role(ledger_schema(name)))
        connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


def _schemas_like(database_url: str, namespace: str) -> set[str]:
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
            (f"{namespace}\\_%",),
        ).fetchall()
    return {row[0] for row in rows}


def test_creates_one_schema_per_service_and_is_idempotent(
    database_url: str, namespace: str
) -> None:
    expected = {f"{namespace}_{service}" for service in SCHEMA_OWNERS}
    env = {"DATABASE_URL": database_url}
    assert _schemas_like(database_url, namespace) == set()
    assert main(["--namespace", namespace], env) == 0
    assert _schemas_like(database_url, namespace) == expected
    assert main(["--namespace", namespace], env) == 0
    assert _schemas_like(database_url, namespace) == expected


def test_concurrent_runs_all_succeed(database_url: str, namespace: str) -> None:
    env = {"DATABASE_URL": database_url}
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: main(["--namespace", namespace], env), range(4)))
    assert results == [0, 0, 0, 0]
    assert len(_schemas_like(database_url, namespace)) == len(SCHEMA_OWNERS)


def test_refuses_to_run_without_a_database_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--namespace", "x"], {}) == 2
    assert "DATABASE_URL is required" in capsys.readouterr().err


def test_rejects_a_namespace_that_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="invalid schema name"):
        schema_names("Bad-Name")
    assert schema_names("") == list(SCHEMA_OWNERS)


@pytest.fixture
def owner_role(database_url: str) -> Iterator[str]:
    """An ordinary role (no superuser, no CREATEROLE) with CREATE on the database: what
    CloudNativePG's application owner is (it owns the database)."""
    role = f"deploytest_owner_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
        database = connection.execute("SELECT current_database()").fetchone()
        assert database is not None
        connection.execute(
            sql.SQL("GRANT CREATE, CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(database[0]), sql.Identifier(role)
            )
        )
    yield role
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
        connection.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


async def test_services_can_then_migrate_as_an_unprivileged_owner(
    database_url: str, namespace: str, owner_role: str
) -> None:
    assert (
        main(["--namespace", namespace, "--owner", owner_role], {"DATABASE_URL": database_url}) == 0
    )
    schema = ledger_schema(namespace)
    with psycopg.connect(database_url) as connection:
        owners: dict[str, str] = dict(
            connection.execute(
                "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname LIKE %s",
                (f"{namespace}\\_%",),
            ).fetchall()
        )
    assert set(owners.values()) == {owner_role} and len(owners) == len(SCHEMA_OWNERS)

    # The ledger's own migration (tables, append-only triggers, writer role grants) succeeds
    # while acting as the owner, which could not have created the writer role itself.
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=1, server_settings={"role": owner_role}
    )
    try:
        await ledger_migrate(pool, schema)
        async with pool.acquire() as connection:
            assert await connection.fetchval("SELECT current_user") == owner_role
            assert not await connection.fetchval(
                "SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await connection.execute(f'CREATE ROLE "{namespace}_not_allowed" NOLOGIN')
    finally:
        await pool.close()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(writer_role(schema)))
        )
        connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(writer_role(schema))))
