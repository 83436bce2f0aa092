"""The schema set-up job against a real PostgreSQL: creates every service's schema, is
idempotent, and concurrent runs (a retried Job beside its first attempt) do not fail."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg import sql

from deploy.catalog import SCHEMA_OWNERS
from deploy.schema_setup import main, schema_names
from services.common.testing import InfraUrls


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
