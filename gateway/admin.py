"""Key administration: `python -m gateway.admin create|list|revoke` (reads DATABASE_URL,
OON_NAMESPACE; beside a running `make run`, found by itself). The secret is printed once, at
creation; only its hash is stored.

Console accounts (docs/console.md): `invite-user` and `reset-password` print a one-time link
(path `/console/welcome?token=...` on the gateway's HTTP port) where the person chooses a
password; `list-users`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from gateway.console.users import Link, UserStore
from gateway.keystore import KeyRecord, KeyStore
from services.common.auth import ROLES
from services.common.local_env import local_settings
from services.common.settings import Settings


def gateway_schema(environ: Mapping[str, str]) -> str:
    settings = Settings(service="gateway", database_url="", nats_url="",
                        namespace=environ.get("OON_NAMESPACE", ""))
    return settings.schema


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway.admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="issue a key (the secret is shown once)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--roles", required=True,
                        help=f"comma-separated, from: {', '.join(sorted(ROLES))}")
    create.add_argument("--label", default="", help="who or what the key is for")
    create.add_argument("--days", type=float, default=90.0, help="validity (default 90 days)")
    create.add_argument("--rate", type=float, default=50.0, help="calls per second")
    create.add_argument("--burst", type=int, default=100)
    listing = commands.add_parser("list", help="keys of a tenant (or all), without secrets")
    listing.add_argument("--tenant", default="")
    revoke = commands.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")
    invite = commands.add_parser("invite-user", help="a console account and its one-time link")
    invite.add_argument("--tenant", required=True)
    invite.add_argument("--login", required=True, help="the person's e-mail address")
    invite.add_argument("--roles", required=True,
                        help=f"comma-separated, from: {', '.join(sorted(ROLES))}")
    invite.add_argument("--name", default="", help="display name")
    reset = commands.add_parser("reset-password",
                                help="a one-time link to choose a new password (ends sessions)")
    reset.add_argument("--login", required=True)
    users = commands.add_parser("list-users", help="console accounts of a tenant (or all)")
    users.add_argument("--tenant", default="")
    return parser


async def _users(options: argparse.Namespace, users: UserStore, now: datetime, out) -> int:  # type: ignore[no-untyped-def]
    """The console account subcommands."""
    await users.migrate()
    if options.command == "list-users":
        for user in await users.list(options.tenant or None):
            state = "disabled" if user.disabled else (
                "active" if user.has_password else "invited")
            print("\t".join([user.user_id, user.tenant_id, ",".join(sorted(user.roles)), state,
                             user.display_name]), file=out)
        return 0
    link: Link | None
    if options.command == "invite-user":
        try:
            link = await users.invite(login=options.login, tenant_id=options.tenant,
                                      roles=options.roles.split(","), display_name=options.name,
                                      now=now, invited_by="gateway.admin")
        except ValueError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 2
    else:
        link = await users.reset_link(options.login, now)
        if link is None:
            print(f"no user {options.login}", file=sys.stderr)
            return 1
    print(f"{link.purpose} link for {link.user.user_id} (once, until "
          f"{link.expires_at.isoformat(timespec='minutes')}): {link.path}", file=out)
    return 0


def _row(record: KeyRecord, now: datetime) -> str:
    state = "revoked" if record.revoked_at else ("live" if record.is_live(now) else "expired")
    return "\t".join([
        record.key_id, record.tenant_id, ",".join(sorted(record.roles)), state,
        record.expires_at.isoformat(timespec="seconds"), f"{record.rate_per_second:g}/s",
        str(record.burst), record.label,
    ])


async def run(argv: Sequence[str], environ: Mapping[str, str], out=sys.stdout) -> int:  # type: ignore[no-untyped-def]
    options = _parser().parse_args(argv)
    database_url = environ.get("DATABASE_URL", "")
    if not database_url:
        print("DATABASE_URL is required (or start the local system with `make run`, which this "
              "tool then finds by itself)", file=sys.stderr)
        return 2
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        now = datetime.now(UTC)
        if options.command in ("invite-user", "reset-password", "list-users"):
            return await _users(options, UserStore(pool, gateway_schema(environ)), now, out)
        store = KeyStore(pool, gateway_schema(environ))
        await store.migrate()
        if options.command == "create":
            try:
                created = await store.create(
                    tenant_id=options.tenant, roles=options.roles.split(","), now=now,
                    expires_at=now + timedelta(days=options.days), label=options.label,
                    rate_per_second=options.rate, burst=options.burst,
                )
            except ValueError as exc:
                print(f"refused: {exc}", file=sys.stderr)
                return 2
            print(_row(created.record, now), file=out)
            print(f"api key (shown once): {created.token}", file=out)
            return 0
        if options.command == "list":
            for record in await store.list(options.tenant or None):
                print(_row(record, now), file=out)
            return 0
        if not await store.revoke(options.key_id, now):
            print(f"no key {options.key_id}", file=sys.stderr)
            return 1
        print(f"revoked {options.key_id}", file=out)
        return 0
    finally:
        await pool.close()


def main() -> int:
    return asyncio.run(run(sys.argv[1:], local_settings(os.environ, tool="gateway.admin")))


if __name__ == "__main__":
    sys.exit(main())
