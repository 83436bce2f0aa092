"""People who sign in to the console: accounts per tenant, one-time invitation and reset links,
and server-side sessions, in the gateway's own PostgreSQL schema (asyncpg).

Passwords are hashed with Argon2id (argon2-cffi); links and session ids are random and only
their SHA-256 is stored, so a copy of the tables signs nobody in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.common.auth import ROLES

_MIGRATION_LOCK = 0x6A7E_0C01  # serialises concurrent gateway start-ups
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
# A login is an e-mail-like name: printable ASCII without spaces (it becomes the actor).
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._%+\-]{0,62}@[a-z0-9.\-]{1,120}")
MIN_PASSWORD_LENGTH = 12
INVITE_LIFETIME = timedelta(days=3)
RESET_LIFETIME = timedelta(hours=4)

_HASHER = PasswordHasher()  # Argon2id, the library's recommended parameters
# Verified against when the login is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True)
class User:
    user_id: str  # the login, lower case; the actor is `user:<user_id>`
    tenant_id: str
    display_name: str
    roles: frozenset[str]
    has_password: bool
    disabled: bool
    created_at: datetime

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"


@dataclass(frozen=True)
class Session:
    """A signed-in session (the id itself is only in the cookie)."""

    user: User
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class Link:
    """A one-time invitation or reset link (the token is shown once)."""

    user: User
    token: str
    purpose: str
    expires_at: datetime

    @property
    def path(self) -> str:
        return f"/console/welcome?token={self.token}"


def check_password(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 256:
        return "a password has at most 256 characters"
    return None


class UserStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        if not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.pool = pool
        self.schema = schema
        self.users = f'"{schema}".console_users'
        self.links = f'"{schema}".console_links'
        self.sessions = f'"{schema}".console_sessions'

    async def migrate(self) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {self.users} (
                    user_id text PRIMARY KEY,
                    tenant_id text NOT NULL CHECK (tenant_id <> ''),
                    display_name text NOT NULL DEFAULT '',
                    roles text[] NOT NULL,
                    password_hash text,
                    created_at timestamptz NOT NULL,
                    created_by text NOT NULL DEFAULT '',
                    disabled_at timestamptz
                )""")
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {self.links} (
                    token_sha256 bytea PRIMARY KEY,
                    user_id text NOT NULL REFERENCES {self.users} (user_id),
                    purpose text NOT NULL,
                    expires_at timestamptz NOT NULL,
                    used_at timestamptz
                )""")
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {self.sessions} (
                    session_sha256 bytea PRIMARY KEY,
                    user_id text NOT NULL REFERENCES {self.users} (user_id),
                    csrf_token text NOT NULL,
                    created_at timestamptz NOT NULL,
                    last_seen_at timestamptz NOT NULL
                )""")
            await conn.execute(
                f"CREATE INDEX IF NOT EXISTS console_sessions_by_user ON {self.sessions} (user_id)")

    # -- accounts --------------------------------------------------------------------------

    async def invite(self, *, login: str, tenant_id: str, roles: Iterable[str],
                     display_name: str, now: datetime, invited_by: str) -> Link:
        """A new account without a password, and its invitation link."""
        user_id = login.strip().lower()
        role_set = frozenset(r.strip() for r in roles if r.strip())
        problems = []
        if not _LOGIN.fullmatch(user_id):
            problems.append("login must be an e-mail address (letters, digits, . _ % + -)")
        if not _TENANT.fullmatch(tenant_id.strip()):
            problems.append("tenant must be 1-64 letters, digits, '.', '_', ':' or '-'")
        if not role_set:
            problems.append("at least one role is required")
        if role_set - ROLES:
            problems.append(f"unknown role(s): {', '.join(sorted(role_set - ROLES))}")
        if len(display_name) > 100 or any(ord(c) < 32 for c in display_name):
            problems.append("name must be at most 100 printable characters")
        if problems:
            raise ValueError("; ".join(problems))
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""INSERT INTO {self.users} (user_id, tenant_id, display_name, roles,
                        created_at, created_by)
                    VALUES ($1, $2, $3, $4, $5, $6)
                    ON CONFLICT (user_id) DO NOTHING RETURNING *""",  # noqa: S608
                user_id, tenant_id.strip(), display_name.strip(), sorted(role_set), now,
                invited_by)
            if row is None:
                raise ValueError(f"a user {user_id} already exists")
            return await self._link(conn, _user(row), "invite", now + INVITE_LIFETIME)

    async def reset_link(self, user_id: str, now: datetime, tenant_id: str | None = None
                         ) -> Link | None:
        """A password reset link (None when no such user, or not in `tenant_id`). The current
        password stays valid until the link is used; the user's sessions end at once."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT * FROM {self.users} WHERE user_id = $1",  # noqa: S608
                user_id.strip().lower())
            if row is None or (tenant_id is not None and row["tenant_id"] != tenant_id):
                return None
            await conn.execute(f"DELETE FROM {self.sessions} WHERE user_id = $1",  # noqa: S608
                               row["user_id"])
            return await self._link(conn, _user(row), "reset", now + RESET_LIFETIME)

    async def _link(self, conn: asyncpg.Connection, user: User, purpose: str,
                    expires_at: datetime) -> Link:
        token = secrets.token_urlsafe(32)
        await conn.execute(
            f"""INSERT INTO {self.links} (token_sha256, user_id, purpose, expires_at)
                VALUES ($1, $2, $3, $4)""",  # noqa: S608
            digest(token), user.user_id, purpose, expires_at)
        return Link(user, token, purpose, expires_at)

    async def link_user(self, token: str, now: datetime) -> User | None:
        row = await self.pool.fetchrow(
            f"""SELECT u.* FROM {self.links} l JOIN {self.users} u USING (user_id)
                WHERE l.token_sha256 = $1 AND l.used_at IS NULL AND l.expires_at > $2
                  AND u.disabled_at IS NULL""",  # noqa: S608
            digest(token), now)
        return None if row is None else _user(row)

    async def set_password_with_link(self, token: str, password: str, now: datetime
                                     ) -> User | None:
        """Use a link once: set the password, end every session of the user."""
        password_hash = _HASHER.hash(password)
        async with self.pool.acquire() as conn, conn.transaction():
            link = await conn.fetchrow(
                f"""UPDATE {self.links} SET used_at = $2
                    WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > $2
                    RETURNING user_id""",  # noqa: S608
                digest(token), now)
            if link is None:
                return None
            row = await conn.fetchrow(
                f"""UPDATE {self.users} SET password_hash = $2
                    WHERE user_id = $1 AND disabled_at IS NULL RETURNING *""",  # noqa: S608
                link["user_id"], password_hash)
            if row is None:
                return None
            await conn.execute(f"DELETE FROM {self.sessions} WHERE user_id = $1",  # noqa: S608
                               link["user_id"])
            await conn.execute(
                f"UPDATE {self.links} SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",  # noqa: S608
                link["user_id"], now)
            return _user(row)

    async def verify(self, login: str, password: str) -> User | None:
        """The user when the password matches (constant work whether or not the login exists)."""
        row = await self.pool.fetchrow(
            f"SELECT * FROM {self.users} WHERE user_id = $1",  # noqa: S608
            login.strip().lower())
        stored = row["password_hash"] if row is not None else None
        try:
            _HASHER.verify(stored or _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if row is None or stored is None or row["disabled_at"] is not None:
            return None
        return _user(row)

    async def list(self, tenant_id: str | None = None) -> list[User]:
        query = f"SELECT * FROM {self.users}"  # noqa: S608
        if tenant_id:
            rows = await self.pool.fetch(f"{query} WHERE tenant_id = $1 ORDER BY user_id",
                                         tenant_id)
        else:
            rows = await self.pool.fetch(f"{query} ORDER BY tenant_id, user_id")
        return [_user(row) for row in rows]

    # -- sessions --------------------------------------------------------------------------

    async def open_session(self, user: User, now: datetime) -> tuple[str, str]:
        """A fresh session id (never one the browser offered: no fixation) and its CSRF token."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await self.pool.execute(
            f"""INSERT INTO {self.sessions} (session_sha256, user_id, csrf_token, created_at,
                    last_seen_at) VALUES ($1, $2, $3, $4, $4)""",  # noqa: S608
            digest(session_id), user.user_id, csrf, now)
        return session_id, csrf

    async def session(self, session_id: str, now: datetime, idle: timedelta,
                      absolute: timedelta) -> Session | None:
        """The live session of this id (its idle clock restarted), or None: unknown, idle too
        long, too old, or its user disabled. An expired session is deleted."""
        key = digest(session_id)
        row = await self.pool.fetchrow(
            f"""SELECT s.csrf_token, s.created_at AS s_created, s.last_seen_at, u.*
                FROM {self.sessions} s JOIN {self.users} u USING (user_id)
                WHERE s.session_sha256 = $1""",  # noqa: S608
            key)
        if row is None:
            return None
        expired = (now - row["last_seen_at"] > idle or now - row["s_created"] > absolute
                   or row["disabled_at"] is not None)
        if expired:
            await self.end_session(session_id)
            return None
        if now - row["last_seen_at"] > timedelta(seconds=15):  # fewer writes, same idle rule
            await self.pool.execute(
                f"UPDATE {self.sessions} SET last_seen_at = $2 WHERE session_sha256 = $1",  # noqa: S608
                key, now)
        return Session(_user(row), row["csrf_token"], row["s_created"], row["last_seen_at"])

    async def forget_expired(self, now: datetime, idle: timedelta, absolute: timedelta) -> int:
        """Delete sessions nobody can use any more (run at each sign-in); how many."""
        deleted = await self.pool.execute(
            f"""DELETE FROM {self.sessions}
                WHERE last_seen_at < $1 OR created_at < $2""",  # noqa: S608
            now - idle, now - absolute)
        return int(deleted.split()[-1])

    async def end_session(self, session_id: str) -> None:
        await self.pool.execute(
            f"DELETE FROM {self.sessions} WHERE session_sha256 = $1",  # noqa: S608
            digest(session_id))


def _user(row: asyncpg.Record) -> User:
    return User(
        user_id=row["user_id"], tenant_id=row["tenant_id"], display_name=row["display_name"],
        roles=frozenset(row["roles"]), has_password=row["password_hash"] is not None,
        disabled=row["disabled_at"] is not None, created_at=row["created_at"])
