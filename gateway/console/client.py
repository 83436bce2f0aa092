"""Calls from the console to the services: the same path as an API call (the one role table,
the same signed internal token, the same request log), with the signed-in person as the actor.

The console never reads a service's tables: every page is built from these calls.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from gateway.console.users import User
from gateway.forwarding import Admitted, Gateway, internal_metadata_for
from gateway.keystore import KeyRecord
from gateway.statuses import failure
from services.common.auth import needs_roles, roles_for
from services.common.grpc_server import REQUEST_HEADER
from services.common.request_log import RequestRecord, request_logged

Reply = TypeVar("Reply", bound=Message)
_NEVER = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PersonKey(KeyRecord):
    """The signed-in person in the shape the forwarding layer takes: their tenant and roles,
    and `user:<login>` as the actor the services record."""

    user_id: str = ""

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"


def person_key(user: User) -> PersonKey:
    return PersonKey(
        key_id=f"user:{user.user_id}", tenant_id=user.tenant_id, roles=user.roles,
        label=user.display_name, created_at=user.created_at, expires_at=_NEVER,
        revoked_at=None, rate_per_second=50.0, burst=100, user_id=user.user_id)


def new_request_id() -> str:
    return uuid.uuid4().hex


class ServiceClient:
    """One person's calls. `call("oonledger.negotiation.v1.NegotiationService/GetNegotiation",
    request, GetNegotiationResponse)`; a refusal raises `CallFailure` as for the API."""

    def __init__(self, gateway: Gateway, user: User) -> None:
        self.gateway = gateway
        self.user = user
        self.key = person_key(user)

    def may(self, full_method: str) -> bool:
        return bool(roles_for(full_method, self.gateway.role_table) & self.user.roles)

    def _admit(self, full_method: str, request_id: str) -> Admitted:
        method = self.gateway.catalog.get(f"/{full_method}")
        if method is None:
            raise failure(grpc.StatusCode.UNIMPLEMENTED, f"no method {full_method}")
        allowed = roles_for(method.full_name, self.gateway.role_table)
        if not allowed & self.user.roles:
            raise failure(grpc.StatusCode.PERMISSION_DENIED, needs_roles(method.full_name, allowed))
        incoming = {REQUEST_HEADER: request_id} if request_id else {}
        metadata = internal_metadata_for(self.key, incoming, method.upstream, method.path,
                                         self.gateway.signer)
        return Admitted(method, self.key, metadata, self.gateway.limits.default_deadline_seconds)

    async def call(self, full_method: str, request: Message, reply_type: type[Reply],
                   request_id: str = "") -> Reply:
        with request_logged(RequestRecord("gateway", full_method, "console")) as record:
            record.tenant, record.caller = self.user.tenant_id, self.key.actor
            record.request_id = request_id
            try:
                admitted = self._admit(full_method, request_id)
                raw = await self.gateway.unary(admitted, request.SerializeToString(), record)
            except Exception as exc:
                code = getattr(exc, "code", None)
                record.failed(code if isinstance(code, grpc.StatusCode) else "UNKNOWN")
                raise
        reply = reply_type()
        reply.ParseFromString(raw)
        return reply

    async def stream(self, full_method: str, request: Message, reply_type: type[Reply]
                     ) -> AsyncIterator[Reply]:
        admitted = self._admit(full_method, "")
        async for raw in self.gateway.stream(admitted, request.SerializeToString()):
            reply = reply_type()
            reply.ParseFromString(raw)
            yield reply
