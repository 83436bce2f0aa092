"""`oonledger.partner.v1.PartnerEventsService`, answered by the gateway itself.

The caller is authenticated and authorised like every call (its key; the role table in
services/common/auth.py), requests are read by the shared request reader
(services/common/requests.py: a mutating call needs its request id), the tenant is the key's,
and each call leaves one request-log line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import grpc
from google.protobuf.message import Message

from gateway.forwarding import Gateway
from gateway.grpc_front import incoming_metadata
from gateway.keystore import KeyRecord
from gateway.partner.feed import BadCursor, FeedFilter, PartnerFeed, position_of
from gateway.partner.webhooks import BadEndpoint, WebhookStore, check_url, signing_secret
from gateway.statuses import CallFailure, failure
from oonledger.partner.v1 import partner_pb2 as pb
from services.common import errors
from services.common.auth import refusal
from services.common.context import CommandContext
from services.common.grpc_server import status_for
from services.common.request_log import RequestRecord, request_logged
from services.common.requests import read_request

SERVICE = "oonledger.partner.v1.PartnerEventsService"
PAGE = 200


class PartnerEventsHandler(grpc.GenericRpcHandler):
    def __init__(self, gateway: Gateway, feed: PartnerFeed, webhooks: WebhookStore,
                 deployment_key: bytes, allow_insecure: bool, poll_seconds: float = 0.5,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.gateway = gateway
        self.feed = feed
        self.webhooks = webhooks
        self.key = deployment_key
        self.allow_insecure = allow_insecure
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.unary: dict[str, tuple[Callable[..., Awaitable[Message]], type[Message],
                                    type[Message]]] = {
            "RegisterWebhook": (self._register, pb.RegisterWebhookRequest,
                                pb.RegisterWebhookResponse),
            "ListWebhooks": (self._list, pb.ListWebhooksRequest, pb.ListWebhooksResponse),
            "RemoveWebhook": (self._remove, pb.RemoveWebhookRequest, pb.RemoveWebhookResponse),
            "ListWebhookDeliveries": (self._deliveries, pb.ListWebhookDeliveriesRequest,
                                      pb.ListWebhookDeliveriesResponse),
            "ReplayWebhookDeliveries": (self._replay, pb.ReplayWebhookDeliveriesRequest,
                                        pb.ReplayWebhookDeliveriesResponse),
        }

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler | None:
        path: str = handler_call_details.method  # type: ignore[attr-defined]
        service, _, method = path.lstrip("/").partition("/")
        if service != SERVICE:
            return None
        if method == "Subscribe":
            return grpc.unary_stream_rpc_method_handler(
                self._subscribe, request_deserializer=pb.SubscribeRequest.FromString,
                response_serializer=pb.PartnerEvent.SerializeToString)
        if method not in self.unary:
            return None
        handler, request, response = self.unary[method]
        return grpc.unary_unary_rpc_method_handler(
            self._admitted(method, handler), request_deserializer=request.FromString,
            response_serializer=response.SerializeToString)

    # -- the common part of every call ---------------------------------------------------
    async def _caller(self, method: str, context: grpc.aio.ServicerContext,
                      record: RequestRecord) -> KeyRecord:
        incoming = incoming_metadata(context)
        key = await self.gateway.authenticator.authenticate(incoming.get("authorization"))
        record.tenant, record.caller = key.tenant_id, key.key_id
        denied = refusal(f"{SERVICE}/{method}", key.roles, self.gateway.role_table)
        if denied is not None:
            raise failure(grpc.StatusCode.PERMISSION_DENIED, denied)
        return key

    def _context(self, key: KeyRecord, request: Message) -> CommandContext:
        ctx = CommandContext(tenant_id=key.tenant_id, actor=key.actor, now=self.clock(),
                             roles=frozenset(key.roles))
        return read_request(request, ctx)

    async def _refuse(self, context: grpc.aio.ServicerContext, exc: Exception,
                      record: RequestRecord) -> None:
        if isinstance(exc, CallFailure):
            record.failed(exc.code)
            await context.abort(exc.code, exc.message,
                                trailing_metadata=exc.trailing_metadata())
        status = status_for(exc)
        if status is None:
            record.failed(grpc.StatusCode.INTERNAL)
            raise exc
        record.failed(status.code)
        await context.abort_with_status(status)

    def _admitted(self, method: str, handler: Callable[..., Awaitable[Message]]
                  ) -> Callable[[Message, grpc.aio.ServicerContext], Awaitable[Message]]:
        async def call(request: Message, context: grpc.aio.ServicerContext) -> Message:
            with request_logged(RequestRecord("gateway", f"{SERVICE}/{method}")) as record:
                try:
                    key = await self._caller(method, context, record)
                    ctx = self._context(key, request)
                    record.request_id = ctx.request_id
                    return await handler(request, ctx)
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    await self._refuse(context, exc, record)
                    raise  # abort() raises; this line only satisfies the type checker

        return call

    # -- Subscribe -------------------------------------------------------------------------
    async def _subscribe(self, request: pb.SubscribeRequest,
                         context: grpc.aio.ServicerContext) -> None:
        with request_logged(RequestRecord("gateway", f"{SERVICE}/Subscribe")) as record:
            try:
                key = await self._caller("Subscribe", context, record)
                self._context(key, request)
                after = _position(request.after_cursor, "after_cursor")
                wanted = FeedFilter.from_proto(request.filter)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await self._refuse(context, exc, record)
                return
            while True:
                try:
                    events = await self.feed.page(key.tenant_id, after, wanted, PAGE)
                except Exception as exc:
                    await self._refuse(context, exc, record)
                    return
                for event in events:
                    # Awaiting the write is the backpressure: a slow reader slows the reads.
                    await context.write(event.to_proto())
                    after = event.position
                if len(events) < PAGE:
                    if request.stop_at_end:
                        return
                    await asyncio.sleep(self.poll_seconds)

    # -- webhooks --------------------------------------------------------------------------
    async def _register(self, request: pb.RegisterWebhookRequest,
                        ctx: CommandContext) -> pb.RegisterWebhookResponse:
        try:
            url = check_url(request.url, self.allow_insecure)
        except BadEndpoint as exc:
            raise errors.InvalidArgument(str(exc), field="url") from None
        hook, _created = await self.webhooks.register(
            ctx.tenant_id, ctx.request_id, ctx.request_fingerprint, url,
            FeedFilter.from_proto(request.filter), request.description.strip(), ctx.now)
        return pb.RegisterWebhookResponse(
            webhook=hook.to_proto(), signing_secret=signing_secret(self.key, hook.webhook_id))

    async def _list(self, request: pb.ListWebhooksRequest,
                    ctx: CommandContext) -> pb.ListWebhooksResponse:
        hooks = await self.webhooks.all_of(ctx.tenant_id)
        return pb.ListWebhooksResponse(webhooks=[hook.to_proto() for hook in hooks])

    async def _remove(self, request: pb.RemoveWebhookRequest,
                      ctx: CommandContext) -> pb.RemoveWebhookResponse:
        hook = await self.webhooks.remove(ctx.tenant_id, request.webhook_id.strip(), ctx.now)
        if hook is None:
            raise errors.NotFound(f"no webhook {request.webhook_id!r}")
        return pb.RemoveWebhookResponse(webhook=hook.to_proto())

    async def _deliveries(self, request: pb.ListWebhookDeliveriesRequest,
                          ctx: CommandContext) -> pb.ListWebhookDeliveriesResponse:
        webhook_id = request.webhook_id.strip()
        if await self.webhooks.get(ctx.tenant_id, webhook_id) is None:
            raise errors.NotFound(f"no webhook {webhook_id!r}")
        size = request.page_size or 100
        if not 1 <= size <= 1000:
            raise errors.InvalidArgument("must be between 1 and 1000", field="page_size")
        deliveries = await self.webhooks.attempts_of(ctx.tenant_id, webhook_id, size)
        return pb.ListWebhookDeliveriesResponse(deliveries=deliveries)

    async def _replay(self, request: pb.ReplayWebhookDeliveriesRequest,
                      ctx: CommandContext) -> pb.ReplayWebhookDeliveriesResponse:
        position = _position(request.after_cursor, "after_cursor")
        webhook_id = request.webhook_id.strip()
        try:
            hook = await self.webhooks.rewind(ctx.tenant_id, ctx.request_id, webhook_id,
                                              position)
        except LookupError:
            hook = None
        if hook is None:
            raise errors.NotFound(f"no webhook {webhook_id!r}")
        return pb.ReplayWebhookDeliveriesResponse(webhook=hook.to_proto())


def _position(cursor: str, field: str) -> int:
    try:
        return position_of(cursor)
    except BadCursor as exc:
        raise errors.InvalidArgument(str(exc), field=field) from None


