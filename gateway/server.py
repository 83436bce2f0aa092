"""Composition of the gateway process on the shared runtime (health, reflection, lifecycle)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import grpc

from gateway.auth import Authenticator
from gateway.catalog import Catalog
from gateway.config import GatewayConfig
from gateway.console import Console, build_console
from gateway.forwarding import Gateway
from gateway.grpc_front import ForwardingHandler
from gateway.http_front import HttpFront, protocol_error
from gateway.http_server import HttpServer
from gateway.keystore import KeyStore
from gateway.operations import OperatorHandler
from gateway.partner.feed import FeedFiller, PartnerFeed
from gateway.partner.handler import SERVICE as PARTNER_SERVICE
from gateway.partner.handler import PartnerEventsHandler
from gateway.partner.webhooks import (
    Dispatcher,
    DispatchSettings,
    WebhookStore,
    deployment_key_of,
)
from gateway.presence import ReplicaPresence, presence_subject
from gateway.ratelimit import RateLimiter
from gateway.tls import grpc_credentials, http_context
from gateway.upstreams import Upstreams
from services.common.grpc_server import ServicerBinding
from services.common.internal_auth import InternalSigner
from services.common.runtime import Builder, Infrastructure, ServiceParts, ServiceRuntime


def utc_now() -> datetime:
    return datetime.now(UTC)


class GatewayProcess:
    """Everything one gateway process holds; `runtime.parts.bindings[0].servicer` in tests."""

    def __init__(self, config: GatewayConfig, gateway: Gateway, store: KeyStore,
                 http: HttpServer) -> None:
        self.config = config
        self.gateway = gateway
        self.store = store
        self.http = http
        self.tls_port = 0
        self.partner: PartnerEventsHandler | None = None
        self.console: Console | None = None
        self._added = False

    @property
    def http_port(self) -> int:
        return self.http.port

    def add_to_server(self, _servicer: object, server: grpc.aio.Server) -> None:
        """Called once per public service name (so health and reflection list them all)."""
        if self._added:
            return
        self._added = True
        handlers: list[grpc.GenericRpcHandler] = [
            ForwardingHandler(self.gateway), OperatorHandler(self.gateway)]
        if self.partner is not None:
            handlers.append(self.partner)
        server.add_generic_rpc_handlers(tuple(handlers))
        if self.config.tls is not None:
            self.tls_port = server.add_secure_port(
                f"{self.config.http_host}:{self.config.tls_grpc_port}",
                grpc_credentials(self.config.tls),
            )


def make_builder(
    environ: Mapping[str, str] | None = None, clock: Callable[[], datetime] = utc_now
) -> Builder:
    """The gateway's composition root; `environ` overrides os.environ (tests pass their own)."""

    async def build(infra: Infrastructure) -> ServiceParts:
        config = GatewayConfig.from_env(infra.settings, os.environ if environ is None else environ)
        catalog = Catalog.discover()
        store = KeyStore(infra.pool, infra.settings.schema)
        authenticator = Authenticator(store, clock, cache_seconds=config.key_cache_seconds)
        upstreams = Upstreams(catalog, config.upstream_env, config.limits.max_request_bytes)
        presence = ReplicaPresence(
            infra.nc, presence_subject(infra.settings), interval=config.presence_seconds
        )
        # Each key's rate limit is shared between the live replicas.
        limiter = RateLimiter(replicas=presence.count)
        gateway = Gateway(catalog, authenticator, upstreams, config.limits,
                          InternalSigner.from_settings(infra.settings), limiter=limiter)
        # The console (gateway/console/, docs/console.md): `/` and `/console/...`.
        console = build_console(gateway, infra.pool, infra.settings.schema,
                                infra.settings.cipher_key, config.upstream_env,
                                config.tls is not None, clock)
        http = HttpServer(
            console.mount(HttpFront(gateway).handle),
            protocol_error,
            config.http_host,
            config.http_port,
            max_body_bytes=config.limits.max_request_bytes,
            ssl_context=http_context(config.tls) if config.tls else None,
            max_connections=config.http_max_connections,
        )
        await http.start()
        process = GatewayProcess(config, gateway, store, http)
        process.console = console

        feed = PartnerFeed(infra.pool, infra.settings.schema)
        webhooks = WebhookStore(infra.pool, infra.settings.schema)
        deployment_key = deployment_key_of(infra.settings.cipher_key)
        process.partner = PartnerEventsHandler(
            gateway, feed, webhooks, deployment_key, config.webhooks.allow_insecure,
            poll_seconds=config.webhooks.poll_seconds, clock=clock)
        dispatcher = Dispatcher(webhooks, feed, deployment_key, DispatchSettings(
            poll_seconds=config.webhooks.poll_seconds,
            timeout_seconds=config.webhooks.timeout_seconds,
            max_backoff_seconds=config.webhooks.max_backoff_seconds), clock=clock,
            part=infra.monitor.part("webhook-dispatcher"))

        filler = FeedFiller(feed, infra.js, infra.settings, infra.monitor)

        async def migrate(_pool: object) -> None:
            await store.migrate()
            await console.migrate()
            await feed.migrate()
            await filler.migrate()
            await webhooks.migrate()

        async def listen() -> None:
            await authenticator.listen_for_revocations(infra.settings.database_url)

        return ServiceParts(
            bindings=[
                ServicerBinding(process.add_to_server, process, name)
                # Its own partner service too, so reflection (buf curl, grpcurl) finds it.
                for name in (*catalog.service_names, PARTNER_SERVICE)
            ],
            migrations=[migrate],
            background=[http.serve_forever, listen, presence.run, filler.run, dispatcher.run],
            on_stop=[http.close, upstreams.close],
        )

    return build


def process_of(runtime: ServiceRuntime) -> GatewayProcess:
    assert runtime.parts is not None, "the runtime has not started"
    servicer = runtime.parts.bindings[0].servicer
    assert isinstance(servicer, GatewayProcess)
    return servicer
