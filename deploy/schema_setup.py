"""Schema set-up job: create each service's PostgreSQL schema and roles once, before any replica
starts.

Run by the Kubernetes Job and the compose `schema-setup` service (`entrypoint setup-schemas`)
with a privileged login. The services themselves then run as an ordinary owner role: the
schemas belong to it (`--owner`), and the ledger's INSERT/SELECT-only writer role exists with
the owner holding ADMIN on it, so the ledger's own migration needs no CREATEROLE.
Idempotent, and concurrent runs take turns (advisory lock): re-running it is always safe.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence

import psycopg
from psycopg import sql

from deploy.catalog import SCHEMA_OWNERS
from services.ledger.adapters.sql_schema import writer_role

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
# Serialises concurrent runs (a retried Job beside its first attempt, several init containers):
# two concurrent `CREATE SCHEMA IF NOT EXISTS` of one name can still fail on the catalog's key.
_ADVISORY_LOCK_KEY = 0x00_0E_D6_E5  # arbitrary, fixed: "OON schema set-up"


def schema_names(namespace: str, services: Iterable[str] = SCHEMA_OWNERS) -> list[str]:
    """One schema per service, prefixed by the namespace (same rule as `Settings.schema_for`)."""
    names = [f"{namespace}_{service}" if namespace else service for service in services]
    for name in names:
        if not _IDENTIFIER.fullmatch(name):
            raise ValueError(f"invalid schema name {name!r}")
    return names


def ledger_schema(namespace: str) -> str:
    return schema_names(namespace, ["ledger"])[0]


def statements(
    schemas: Iterable[str],
    owner: str | None = None,
    ledger: str | None = None,
    grant_to: Sequence[str] = (),
) -> list[sql.Composed]:
    """The SQL that creates the schemas (owned by `owner`), the ledger's writer role, and lets
    extra roles (read replicas, auditors) see the schemas."""
    planned: list[sql.Composed] = []
    for schema in schemas:
        create = sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
        planned.append(create)
        if owner:
            planned.append(
                sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                    sql.Identifier(schema), sql.Identifier(owner)
                )
            )
        for role in grant_to:
            planned.append(
                sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                    sql.Identifier(schema), sql.Identifier(role)
                )
            )
    if ledger:
        role = writer_role(ledger)
        planned.append(
            sql.SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {}) "
                "THEN CREATE ROLE {} NOLOGIN; END IF; END $$"
            ).format(sql.Literal(role), sql.Identifier(role))
        )
        if owner:
            planned.append(
                sql.SQL("GRANT {} TO {} WITH ADMIN OPTION").format(
                    sql.Identifier(role), sql.Identifier(owner)
                )
            )
    return planned


def apply(database_url: str, planned: Sequence[sql.Composed]) -> None:
    # One transaction: either everything exists afterwards or nothing was added.
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK_KEY,))
            for statement in planned:
                connection.execute(statement)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespace", default=env.get("OON_NAMESPACE", ""))
    parser.add_argument(
        "--owner",
        default=env.get("OON_SCHEMA_OWNER") or None,
        help="role the services log in as; owns the schemas (default: the connecting login)",
    )
    parser.add_argument(
        "--grant-usage-to",
        action="append",
        default=[],
        metavar="ROLE",
        help="also GRANT USAGE on every schema to this existing role (repeatable)",
    )
    options = parser.parse_args(argv)
    database_url = env.get("DATABASE_URL", "")
    if not database_url:
        print("setup-schemas: DATABASE_URL is required", file=sys.stderr)
        return 2
    schemas = schema_names(options.namespace)
    planned = statements(
        schemas, options.owner, ledger_schema(options.namespace), options.grant_usage_to
    )
    apply(database_url, planned)
    print(f"setup-schemas: ready: {', '.join(schemas)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
