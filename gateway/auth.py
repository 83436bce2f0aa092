"""Who is calling: API key (Bearer) → tenant, roles, limits. Cached briefly; revocations evict."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime

import asyncpg
import grpc

from gateway import keys
from gateway.keystore import KeyRecord, KeyStore
from gateway.statuses import CallFailure, failure, retry_info
from services.common.faults import describe, is_fault
from services.common.grpc_server import RETRY_AFTER_FAULT_SECONDS

log = logging.getLogger(__name__)


def unauthenticated(message: str) -> CallFailure:
    return failure(grpc.StatusCode.UNAUTHENTICATED, message)


class Authenticator:
    """Resolves `authorization` values to live keys.

    A positive lookup is cached for `cache_seconds` (bounded staleness for expiry and for a
    revocation whose NOTIFY was missed); `listen_for_revocations` evicts revoked keys at once.
    """

    def __init__(
        self,
        store: KeyStore,
        clock: Callable[[], datetime],
        cache_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.clock = clock
        self.cache_seconds = cache_seconds
        self.monotonic = monotonic
        self._cache: dict[str, tuple[float, KeyRecord, bytes]] = {}
        # Key ids that do not exist: remembered as long as a positive lookup, so a flood of
        # made-up keys costs the database one query per id, not one per call.
        self._unknown: dict[str, float] = {}

    async def authenticate(self, authorization: str | None) -> KeyRecord:
        try:
            presented = keys.parse_authorization(authorization)
        except keys.MalformedKey as exc:
            raise unauthenticated(str(exc)) from None
        found = self._cached(presented.key_id)
        if found is None:
            if self._known_unknown(presented.key_id):
                raise unauthenticated("unknown API key")
            looked_up = await self._find(presented.key_id)
            if looked_up is None:
                if self.cache_seconds > 0:
                    self._remember_unknown(presented.key_id)
                raise unauthenticated("unknown API key")
            found = looked_up
            if self.cache_seconds > 0:
                self._cache[presented.key_id] = (self.monotonic(), *found)
        record, secret_hash = found
        if not keys.secret_matches(presented, secret_hash):
            raise unauthenticated("unknown API key")
        if record.revoked_at is not None:
            raise unauthenticated("API key revoked")
        if self.clock() >= record.expires_at:
            raise unauthenticated("API key expired")
        return record

    async def _find(self, key_id: str) -> tuple[KeyRecord, bytes] | None:
        """The key store's answer; its database down is UNAVAILABLE (retry the same request),
        not an unknown error: found by the fault suite (tests/faults), a PostgreSQL outage longer
        than the cache turned every call into UNKNOWN."""
        try:
            return await self.store.find(key_id)
        except Exception as exc:
            if not is_fault(exc):
                raise
            log.warning("API key lookup failed: %s", describe(exc))
            raise failure(
                grpc.StatusCode.UNAVAILABLE,
                f"temporarily unavailable ({type(exc).__name__}); retry with the same request_id",
                [retry_info(RETRY_AFTER_FAULT_SECONDS)],
            ) from exc

    def _cached(self, key_id: str) -> tuple[KeyRecord, bytes] | None:
        entry = self._cache.get(key_id)
        if entry is None:
            return None
        stored_at, record, secret_hash = entry
        if self.monotonic() - stored_at > self.cache_seconds:
            del self._cache[key_id]
            return None
        return record, secret_hash

    def _known_unknown(self, key_id: str) -> bool:
        stored_at = self._unknown.get(key_id)
        if stored_at is None:
            return False
        if self.monotonic() - stored_at > self.cache_seconds:
            del self._unknown[key_id]
            return False
        return True

    def _remember_unknown(self, key_id: str, limit: int = 100_000) -> None:
        if len(self._unknown) >= limit:
            self._unknown.clear()  # bounded memory under a flood of made-up ids
        self._unknown[key_id] = self.monotonic()

    def forget(self, key_id: str) -> None:
        self._cache.pop(key_id, None)

    async def listen_for_revocations(self, database_url: str) -> None:
        """Runs until cancelled: evict keys as `KeyStore.revoke` announces them."""
        conn = await asyncpg.connect(database_url)
        try:
            await conn.add_listener(
                self.store.channel, lambda _conn, _pid, _channel, key_id: self.forget(key_id)
            )
            closed = asyncio.Event()
            conn.add_termination_listener(lambda _conn: closed.set())
            # Anything revoked while we were not listening: start from a clean cache.
            self._cache.clear()
            await closed.wait()
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
        # The runtime restarts a crashed background task.
        raise ConnectionError("revocation listener connection closed")
