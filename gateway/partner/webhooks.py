"""Webhooks: a tenant's HTTPS endpoints, told of its events in feed order, signed, retried.

Each endpoint has its own cursor into the partner feed (gateway/partner/feed.py): a delivery
posts the next matching event; a 2xx answer moves the cursor on, anything else (a status, a
refused connection, a timeout) is recorded with the reason and retried after a backoff that
doubles up to a ceiling -- the endpoint's later events wait, so they arrive in order and none
is skipped. Every attempt is recorded (`ListWebhookDeliveries`); `ReplayWebhookDeliveries`
moves the cursor back. Deliveries run in the gateway's background, apart from the consumers
that fill the feed, so an endpoint that is down never slows the pipeline. Replicas share the
work through a lease per endpoint.

A delivery is a POST of the event as JSON (`PartnerEvent`, the same as `Subscribe` streams)
with `Oon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
`Oon-Event-Id`, `Oon-Event-Type`, `Oon-Webhook-Id` and `Oon-Delivery-Attempt`. The secret is
derived from the deployment's key and the webhook id (nothing secret is stored).
"""

# Table names are built from the schema, checked against _IDENTIFIER; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import http.client
import ipaddress
import logging
import re
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import asyncpg
from google.protobuf import json_format
from opentelemetry import metrics

from gateway.partner.feed import FeedEvent, FeedFilter, PartnerFeed, cursor_of
from oonledger.partner.v1 import partner_pb2 as pb
from services.common.errors import AlreadyExists
from services.common.health import Part

log = logging.getLogger(__name__)
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,62}")
SIGNATURE_HEADER = "Oon-Signature"

_meter = metrics.get_meter("oonledger")
_delivered = _meter.create_counter(
    "oonledger.webhook.delivered", description="Webhook deliveries answered 2xx")
_failed = _meter.create_counter(
    "oonledger.webhook.failed", description="Webhook delivery attempts that failed (retried)")


class RequestReused(AlreadyExists):
    """A request id already used for a different request."""


class BadEndpoint(ValueError):
    """A URL the gateway will not deliver to."""


def check_url(url: str, allow_insecure: bool) -> str:
    """An https:// URL with a public host (http:// and private hosts only when insecure
    endpoints are allowed: a development gateway, GATEWAY_WEBHOOK_ALLOW_INSECURE=1)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BadEndpoint("must be an https:// URL")
    if parts.scheme == "http" and not allow_insecure:
        raise BadEndpoint("must be https:// (plain http is for a development gateway only)")
    if parts.username or parts.password:
        raise BadEndpoint("must not carry credentials")
    if not allow_insecure:
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            address = None
        if parts.hostname == "localhost" or (address is not None and (
                address.is_private or address.is_loopback or address.is_link_local
                or address.is_reserved or address.is_multicast)):
            raise BadEndpoint("must name a public host")
    return url


def signing_secret(deployment_key: bytes, webhook_id: str) -> str:
    return hmac.new(deployment_key, f"oonledger webhook v1 {webhook_id}".encode(),
                    hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, now: float,
                     tolerance_seconds: float = 300) -> bool:
    """What a receiver does (the tests do it too): recompute and compare, refuse stale ones."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)


@dataclass(frozen=True)
class Webhook:
    webhook_id: str
    tenant_id: str
    url: str
    wanted: FeedFilter
    description: str
    created_at: datetime
    removed_at: datetime | None
    delivered_position: int
    failing_attempts: int
    last_error: str
    next_attempt_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Webhook:
        return cls(row["webhook_id"], row["tenant_id"], row["url"],
                   FeedFilter(tuple(row["event_types"]), row["client_id"], row["claim_id"]),
                   row["description"], row["created_at"], row["removed_at"],
                   row["delivered_position"], row["failing_attempts"], row["last_error"],
                   row["next_attempt_at"])

    def to_proto(self) -> pb.Webhook:
        hook = pb.Webhook(webhook_id=self.webhook_id, url=self.url, filter=self.wanted.to_proto(),
                          description=self.description,
                          delivered_cursor=cursor_of(self.delivered_position),
                          failing_attempts=self.failing_attempts, last_error=self.last_error)
        hook.created_at.FromDatetime(self.created_at)
        if self.removed_at is not None:
            hook.removed_at.FromDatetime(self.removed_at)
        if self.next_attempt_at is not None:
            hook.next_attempt_at.FromDatetime(self.next_attempt_at)
        return hook


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    http_status: int
    error: str
    latency_ms: int


class WebhookStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        if not _IDENTIFIER.fullmatch(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.pool = pool
        self.schema = schema
        self.hooks = f'"{schema}".webhooks'
        self.attempts = f'"{schema}".webhook_attempts'
        self.requests = f'"{schema}".webhook_requests'

    async def migrate(self, _pool: object = None) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {self.hooks} (
                    webhook_id text PRIMARY KEY,
                    tenant_id text NOT NULL,
                    request_id text NOT NULL,
                    request_fingerprint text NOT NULL,
                    url text NOT NULL,
                    event_types text[] NOT NULL,
                    client_id text NOT NULL,
                    claim_id text NOT NULL,
                    description text NOT NULL,
                    created_at timestamptz NOT NULL,
                    removed_at timestamptz,
                    delivered_position bigint NOT NULL DEFAULT 0,
                    failing_attempts integer NOT NULL DEFAULT 0,
                    last_error text NOT NULL DEFAULT '',
                    next_attempt_at timestamptz,
                    leased_until timestamptz,
                    UNIQUE (tenant_id, request_id)
                )""")
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {self.attempts} (
                    attempt_id bigserial PRIMARY KEY,
                    webhook_id text NOT NULL,
                    tenant_id text NOT NULL,
                    position bigint NOT NULL,
                    event_id text NOT NULL,
                    event_type text NOT NULL,
                    attempt integer NOT NULL,
                    attempted_at timestamptz NOT NULL,
                    delivered boolean NOT NULL,
                    http_status integer NOT NULL,
                    error text NOT NULL,
                    latency_ms bigint NOT NULL
                )""")
            await conn.execute(f"CREATE INDEX IF NOT EXISTS webhook_attempts_by_hook "
                               f"ON {self.attempts} (webhook_id, attempt_id)")
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {self.requests} (
                    tenant_id text NOT NULL,
                    request_id text NOT NULL,
                    PRIMARY KEY (tenant_id, request_id)
                )""")

    async def register(self, tenant_id: str, request_id: str, fingerprint: str, url: str,
                       wanted: FeedFilter, description: str,
                       now: datetime) -> tuple[Webhook, bool]:
        """The new webhook (True), or the one this request id already registered (False);
        RequestReused when that request id registered something else."""
        webhook_id = uuid.uuid5(uuid.NAMESPACE_URL, f"webhook:{tenant_id}:{request_id}").hex
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"INSERT INTO {self.hooks} (webhook_id, tenant_id, request_id,"
                " request_fingerprint, url, event_types, client_id, claim_id, description,"
                " created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT DO NOTHING RETURNING *",
                webhook_id, tenant_id, request_id, fingerprint, url, list(wanted.event_types),
                wanted.client_id, wanted.claim_id, description, now)
            if row is not None:
                return Webhook.from_row(row), True
            row = await conn.fetchrow(
                f"SELECT * FROM {self.hooks} WHERE tenant_id = $1 AND request_id = $2",
                tenant_id, request_id)
        assert row is not None
        if row["request_fingerprint"] != fingerprint:
            raise RequestReused(
                f"request id {request_id!r} already registered webhook {row['webhook_id']} "
                "with a different request")
        return Webhook.from_row(row), False

    async def get(self, tenant_id: str, webhook_id: str) -> Webhook | None:
        row = await self.pool.fetchrow(
            f"SELECT * FROM {self.hooks} WHERE tenant_id = $1 AND webhook_id = $2",
            tenant_id, webhook_id)
        return Webhook.from_row(row) if row is not None else None

    async def all_of(self, tenant_id: str) -> list[Webhook]:
        rows = await self.pool.fetch(
            f"SELECT * FROM {self.hooks} WHERE tenant_id = $1 ORDER BY created_at, webhook_id",
            tenant_id)
        return [Webhook.from_row(row) for row in rows]

    async def remove(self, tenant_id: str, webhook_id: str, now: datetime) -> Webhook | None:
        row = await self.pool.fetchrow(
            f"UPDATE {self.hooks} SET removed_at = coalesce(removed_at, $3)"
            " WHERE tenant_id = $1 AND webhook_id = $2 RETURNING *", tenant_id, webhook_id, now)
        return Webhook.from_row(row) if row is not None else None

    async def rewind(self, tenant_id: str, request_id: str, webhook_id: str,
                     position: int) -> Webhook | None:
        """Deliver again after `position` (once per request id); None: no such webhook."""
        async with self.pool.acquire() as conn, conn.transaction():
            first = await conn.fetchval(
                f"INSERT INTO {self.requests} VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
                tenant_id, request_id)
            if first:
                row = await conn.fetchrow(
                    f"UPDATE {self.hooks} SET delivered_position = $3, failing_attempts = 0,"
                    " last_error = '', next_attempt_at = NULL"
                    " WHERE tenant_id = $1 AND webhook_id = $2 RETURNING *",
                    tenant_id, webhook_id, position)
                if row is None:
                    raise LookupError(webhook_id)  # rolls the request id back too
            else:
                row = await conn.fetchrow(
                    f"SELECT * FROM {self.hooks} WHERE tenant_id = $1 AND webhook_id = $2",
                    tenant_id, webhook_id)
        return Webhook.from_row(row) if row is not None else None

    async def attempts_of(self, tenant_id: str, webhook_id: str,
                          limit: int) -> list[pb.WebhookDelivery]:
        rows = await self.pool.fetch(
            f"SELECT * FROM {self.attempts} WHERE tenant_id = $1 AND webhook_id = $2"
            " ORDER BY attempt_id DESC LIMIT $3", tenant_id, webhook_id, limit)
        deliveries = []
        for row in rows:
            delivery = pb.WebhookDelivery(
                attempt_id=row["attempt_id"], webhook_id=row["webhook_id"],
                cursor=cursor_of(row["position"]), event_id=row["event_id"],
                event_type=row["event_type"], attempt=row["attempt"],
                outcome=(pb.DELIVERY_OUTCOME_DELIVERED if row["delivered"]
                         else pb.DELIVERY_OUTCOME_FAILED),
                http_status=row["http_status"], error=row["error"],
                latency_ms=row["latency_ms"])
            delivery.attempted_at.FromDatetime(row["attempted_at"])
            deliveries.append(delivery)
        return deliveries

    # -- the dispatcher's side -------------------------------------------------------------
    async def lease_due(self, lease_seconds: float, limit: int) -> list[Webhook]:
        """Live endpoints due for an attempt, leased to this replica."""
        rows = await self.pool.fetch(
            f"UPDATE {self.hooks} SET leased_until = now() + make_interval(secs => $1)"
            f" WHERE webhook_id IN (SELECT webhook_id FROM {self.hooks}"
            "   WHERE removed_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
            "   AND (leased_until IS NULL OR leased_until < now())"
            "   ORDER BY next_attempt_at NULLS FIRST LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " RETURNING *", lease_seconds, limit)
        return [Webhook.from_row(row) for row in rows]

    async def release(self, webhook_id: str) -> None:
        await self.pool.execute(
            f"UPDATE {self.hooks} SET leased_until = NULL WHERE webhook_id = $1", webhook_id)

    async def record(self, hook: Webhook, event: FeedEvent, attempt_number: int,
                     attempt: Attempt, now: datetime, retry_at: datetime | None) -> None:
        """One attempt, and the endpoint's cursor or backoff, in one transaction. A cursor
        moved back meanwhile (a replay) is kept: the update applies only from where we read."""
        env = event.envelope
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                f"INSERT INTO {self.attempts} (webhook_id, tenant_id, position, event_id,"
                " event_type, attempt, attempted_at, delivered, http_status, error, latency_ms)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                hook.webhook_id, hook.tenant_id, event.position, env.event_id, env.event_type,
                attempt_number, now, attempt.delivered, attempt.http_status, attempt.error,
                attempt.latency_ms)
            if attempt.delivered:
                await conn.execute(
                    f"UPDATE {self.hooks} SET delivered_position = $2, failing_attempts = 0,"
                    " last_error = '', next_attempt_at = NULL"
                    " WHERE webhook_id = $1 AND delivered_position = $3",
                    hook.webhook_id, event.position, hook.delivered_position)
            else:
                await conn.execute(
                    f"UPDATE {self.hooks} SET failing_attempts = failing_attempts + 1,"
                    " last_error = $2, next_attempt_at = $3"
                    " WHERE webhook_id = $1 AND delivered_position = $4",
                    hook.webhook_id, attempt.error, retry_at, hook.delivered_position)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float,
         context: ssl.SSLContext | None) -> Attempt:
    """One POST, in a worker thread (stdlib http.client: no redirect is followed)."""
    started = time.perf_counter()
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port,
                                                 timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)
        status = response.status
        elapsed = int((time.perf_counter() - started) * 1000)
        if 200 <= status < 300:
            return Attempt(True, status, "", elapsed)
        return Attempt(False, status, f"HTTP {status} {response.reason}"[:300], elapsed)
    except (OSError, http.client.HTTPException) as exc:  # timeouts are OSErrors
        elapsed = int((time.perf_counter() - started) * 1000)
        return Attempt(False, 0, f"{type(exc).__name__}: {exc}"[:300], elapsed)
    finally:
        connection.close()


@dataclass(frozen=True)
class DispatchSettings:
    poll_seconds: float = 0.5
    timeout_seconds: float = 10.0
    max_backoff_seconds: float = 300.0
    concurrency: int = 8
    lease_seconds: float = 120.0
    events_per_lease: int = 100


class Dispatcher:
    """The background loop: lease due endpoints, deliver their next events, in order."""

    def __init__(self, store: WebhookStore, feed: PartnerFeed, deployment_key: bytes,
                 settings: DispatchSettings, ssl_context: ssl.SSLContext | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 part: Part | None = None) -> None:
        self.store = store
        # The loop's health (services/common/health.py): a database it cannot read for longer
        # than the stall threshold turns the gateway NOT_SERVING with the reason. A partner's
        # endpoint that refuses deliveries does not: that is recorded per endpoint instead.
        self.part = part
        self.feed = feed
        self.key = deployment_key
        self.settings = settings
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.clock = clock

    def backoff(self, failures: int) -> float:
        return float(min(2 ** min(failures, 20), self.settings.max_backoff_seconds))

    async def run(self) -> None:
        while True:
            try:
                hooks = await self.store.lease_due(self.settings.lease_seconds, 100)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("webhooks: cannot read endpoints (retrying): %r", exc)
                if self.part is not None:
                    self.part.blocked(f"cannot read the webhook endpoints: {exc!r}")
                hooks = []
            else:
                if self.part is not None:
                    self.part.progressed()
            if hooks:
                await self.deliver_all(hooks)
            await asyncio.sleep(self.settings.poll_seconds)

    async def deliver_all(self, hooks: list[Webhook]) -> None:
        """Each endpoint on its own (a slow one never holds up the others), a few at once."""
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def one(hook: Webhook) -> None:
            async with limit:
                await self.deliver(hook)

        await asyncio.gather(*(one(hook) for hook in hooks))

    async def deliver(self, hook: Webhook) -> None:
        """Deliver the endpoint's next events until caught up, a failure, or the lease's share."""
        try:
            for _ in range(self.settings.events_per_lease // 50 or 1):
                events = await self.feed.page(hook.tenant_id, hook.delivered_position,
                                              hook.wanted, limit=50)
                if not events:
                    return
                for event in events:
                    attempt_number = hook.failing_attempts + 1
                    attempt = await asyncio.to_thread(
                        post, hook.url, *self.request_of(hook, event, attempt_number),
                        self.settings.timeout_seconds, self.ssl_context)
                    now = self.clock()
                    retry_at = None if attempt.delivered else now + timedelta(
                        seconds=self.backoff(hook.failing_attempts))
                    await self.store.record(hook, event, attempt_number, attempt, now, retry_at)
                    if not attempt.delivered:
                        _failed.add(1)
                        log.warning("webhook %s: %s failed (attempt %d): %s; retry at %s",
                                    hook.webhook_id, event.envelope.event_id, attempt_number,
                                    attempt.error, retry_at.isoformat() if retry_at else "")
                        return
                    _delivered.add(1)
                    hook = Webhook(**{**vars(hook), "delivered_position": event.position,
                                      "failing_attempts": 0, "last_error": ""})
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("webhook %s: database unavailable (retrying): %r", hook.webhook_id, exc)
        finally:
            try:
                await self.store.release(hook.webhook_id)
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("webhook %s: lease not released (%r); it lapses after %.0f s",
                            hook.webhook_id, exc, self.settings.lease_seconds)

    def request_of(self, hook: Webhook, event: FeedEvent,
                   attempt_number: int) -> tuple[bytes, dict[str, str]]:
        body = json_format.MessageToJson(event.to_proto(), indent=None).encode()
        secret = signing_secret(self.key, hook.webhook_id)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "oonledger-webhooks/1",
            SIGNATURE_HEADER: signature(secret, int(time.time()), body),
            "Oon-Event-Id": event.envelope.event_id,
            "Oon-Event-Type": event.envelope.event_type,
            "Oon-Webhook-Id": hook.webhook_id,
            "Oon-Delivery-Attempt": str(attempt_number),
        }
        return body, headers


def deployment_key_of(cipher_key: str) -> bytes:
    """The key webhook secrets derive from (the deployment's AES key, base64)."""
    return hmac.new(base64.b64decode(cipher_key), b"oonledger webhooks v1",
                    hashlib.sha256).digest()
