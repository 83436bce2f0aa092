"""The console: the web pages people sign in to, served by the gateway's own HTTP server under
`/console/` (docs/console.md). `build_console` is what gateway/server.py mounts."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import asyncpg

from gateway.console.app import Console, ConsoleSettings
from gateway.console.users import UserStore
from gateway.forwarding import Gateway

__all__ = ["Console", "ConsoleSettings", "build_console"]


def build_console(gateway: Gateway, pool: asyncpg.Pool, schema: str, cipher_key: str,
                  environ: Mapping[str, str], tls: bool,
                  clock: Callable[[], datetime]) -> Console:
    """Sessions end after CONSOLE_IDLE_MINUTES without a request (default 30) and
    CONSOLE_SESSION_HOURS after sign-in (default 12); cookies are Secure when the gateway
    serves TLS."""
    settings = ConsoleSettings(
        idle=timedelta(minutes=float(environ.get("CONSOLE_IDLE_MINUTES", "") or 30)),
        absolute=timedelta(hours=float(environ.get("CONSOLE_SESSION_HOURS", "") or 12)),
        secure_cookies=tls)
    return Console(gateway, UserStore(pool, schema), base64.b64decode(cipher_key), clock,
                   settings)
