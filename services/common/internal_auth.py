"""Who may call a service: the gateway (or a tool holding its key) asserts the caller's tenant,
actor and roles in a short-lived Ed25519-signed token; every service verifies it here.

The token travels in the `x-oon-internal` metadata. It is a compact JWS (RFC 7515,
`alg: EdDSA`) whose claims are `tenant`, `actor`, `roles`, `request_id`, `method` (the full gRPC
method name, `/pkg.Service/Method`), `aud` (the service, e.g. `claims`), `iat` and `exp`
(at most `MAX_LIFETIME_SECONDS` later). Only the gateway holds the private key; services hold
the public key, so a compromised service cannot speak for another tenant to another service
(docs/decisions.md §12). Plain `x-tenant-id` / `x-actor` / `x-roles` headers mean nothing.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from services.common.errors import ConfigurationError


class KeySettings(Protocol):
    """What the signer and verifier read from a process's settings (services/common/settings.py
    imports this module, so the settings are described here, not imported)."""

    @property
    def service(self) -> str: ...
    @property
    def internal_signing_key(self) -> str: ...
    @property
    def internal_verify_key(self) -> str: ...


log = logging.getLogger(__name__)

TOKEN_HEADER = "x-oon-internal"  # noqa: S105 - a metadata name, not a secret
MAX_LIFETIME_SECONDS = 60
LEEWAY_SECONDS = 5  # clock skew tolerated between the gateway's host and a service's
_HEADER = {"alg": "EdDSA", "typ": "oon-internal+jwt"}
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", re.S)

# Well-known seed, used only with OON_DEV_MODE=1 when no key is configured: a token signed with
# it proves nothing, exactly like the development cipher key.
_DEV_SEED = hashlib.sha256(b"oonledger development internal token key - not a secret").digest()


class Unauthenticated(Exception):
    """The call carries no valid internal token; answered UNAUTHENTICATED, never retried."""


class KeyConfigurationError(ValueError):
    """Key material that cannot be used (missing file, not PEM, not Ed25519)."""


@dataclass(frozen=True)
class InternalClaims:
    tenant: str
    actor: str
    roles: frozenset[str]
    request_id: str
    method: str
    audience: str
    issued_at: int
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- keys -------------------------------------------------------------------------------------


def private_key_from_pem(text: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(text.strip().encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyConfigurationError(f"the internal signing key is not a PEM key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyConfigurationError("the internal signing key is not an Ed25519 key")
    return key


def public_keys_from_pem(text: str) -> tuple[Ed25519PublicKey, ...]:
    """Every public key in the text: during a rotation the old and the new key are both listed."""
    keys = []
    for block in _PEM_BLOCK.findall(text):
        try:
            key = serialization.load_pem_public_key(block.encode())
        except ValueError as exc:
            raise KeyConfigurationError(f"an internal verify key is not a PEM key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyConfigurationError("an internal verify key is not an Ed25519 key")
        keys.append(key)
    if not keys:
        raise KeyConfigurationError("no PEM public key found in the internal verify key")
    return tuple(keys)


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def new_key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh key: what `make run` writes under .oonledger/."""
    key = Ed25519PrivateKey.generate()
    return private_pem(key), public_pem(key)


def development_key_pair() -> tuple[str, str]:
    key = Ed25519PrivateKey.from_private_bytes(_DEV_SEED)
    return private_pem(key), public_pem(key)


def key_settings(env: Mapping[str, str], dev_mode: bool) -> tuple[str, str]:
    """(signing PEM, verify PEM) from the environment, read once at start-up.

    OON_INTERNAL_SIGNING_KEY_FILE (or inline OON_INTERNAL_SIGNING_KEY): the gateway's private
    key. OON_INTERNAL_VERIFY_KEY_FILE (or inline OON_INTERNAL_VERIFY_KEY): the public key(s)
    services verify with; defaults to the public half of the signing key. With OON_DEV_MODE=1
    and neither set, the well-known development pair. Whether a process *needs* a key is
    decided where it is used (`InternalSigner.from_settings`, `InternalVerifier.from_settings`).
    """

    def read(name: str) -> str:
        path = env.get(f"{name}_FILE", "")
        if path:
            try:
                return Path(path).read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise KeyConfigurationError(f"{name}_FILE: cannot read {path}: {exc}") from None
        return env.get(name, "").replace("\\n", "\n")

    signing = read("OON_INTERNAL_SIGNING_KEY")
    verify = read("OON_INTERNAL_VERIFY_KEY")
    if signing:
        private_key_from_pem(signing)
        verify = verify or public_pem(private_key_from_pem(signing))
    if verify:
        public_keys_from_pem(verify)
    if not signing and not verify and dev_mode:
        return development_key_pair()
    return signing, verify


# --- tokens -----------------------------------------------------------------------------------


class InternalSigner:
    """Mints tokens; held by the gateway (and by trusted tools given the same key)."""

    def __init__(
        self, key: Ed25519PrivateKey, lifetime_seconds: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < lifetime_seconds <= MAX_LIFETIME_SECONDS:
            raise ValueError(f"a token lives at most {MAX_LIFETIME_SECONDS} s")
        self.key = key
        self.lifetime_seconds = lifetime_seconds
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: KeySettings) -> InternalSigner:
        """Fails fast (ConfigurationError) when the process was given no signing key."""
        if not settings.internal_signing_key:
            raise ConfigurationError(
                f"{settings.service}: OON_INTERNAL_SIGNING_KEY_FILE is required (the Ed25519 "
                "private key that signs calls to the services); set OON_DEV_MODE=1 to use the "
                "development key locally"
            )
        return cls(private_key_from_pem(settings.internal_signing_key))

    def token(
        self, *, audience: str, method: str, tenant: str, actor: str, roles: Iterable[str],
        request_id: str,
    ) -> str:
        now = int(self.clock())
        claims = {
            "tenant": tenant, "actor": actor, "roles": sorted(roles), "request_id": request_id,
            "method": method, "aud": audience, "iat": now, "exp": now + self.lifetime_seconds,
        }
        head = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        signature = self.key.sign(f"{head}.{body}".encode("ascii"))
        return f"{head}.{body}.{_b64(signature)}"


class InternalVerifier:
    """Checks a token for one service (its audience); one per gRPC server."""

    def __init__(
        self, keys: Sequence[Ed25519PublicKey], audience: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("a verifier needs at least one public key")
        self.keys = tuple(keys)
        self.audience = audience
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: KeySettings) -> InternalVerifier:
        """Fails fast (ConfigurationError) when the process was given no verify key."""
        if not settings.internal_verify_key:
            raise ConfigurationError(
                f"{settings.service}: OON_INTERNAL_VERIFY_KEY_FILE (or OON_INTERNAL_VERIFY_KEY) "
                "is required (the gateway's Ed25519 public key, to verify who calls); set "
                "OON_DEV_MODE=1 to use the development key locally"
            )
        if settings.internal_verify_key == development_key_pair()[1]:
            log.warning("%s: trusting the well-known development internal key (OON_DEV_MODE=1): "
                        "anyone can sign calls to this service", settings.service)
        return cls(public_keys_from_pem(settings.internal_verify_key), settings.service)

    def verify(self, token: str, method: str) -> InternalClaims:
        if not token:
            raise Unauthenticated(
                f"no {TOKEN_HEADER} token: services accept calls only through the gateway")
        parts = token.split(".")
        if len(parts) != 3:
            raise Unauthenticated(f"malformed {TOKEN_HEADER} token")
        try:
            header = json.loads(_unb64(parts[0]))
            signature = _unb64(parts[2])
        except (ValueError, binascii.Error):
            raise Unauthenticated(f"malformed {TOKEN_HEADER} token") from None
        if header != _HEADER:
            raise Unauthenticated(f"{TOKEN_HEADER} token: unsupported header {header!r}")
        signed = f"{parts[0]}.{parts[1]}".encode("ascii")
        if not any(_valid(key, signature, signed) for key in self.keys):
            raise Unauthenticated(f"{TOKEN_HEADER} token: bad signature (not signed by a "
                                  "key this service trusts)")
        claims = _claims(parts[1])
        if claims.audience != self.audience:
            raise Unauthenticated(f"{TOKEN_HEADER} token is for {claims.audience!r}, "
                                  f"not {self.audience!r}")
        if claims.method != method:
            raise Unauthenticated(f"{TOKEN_HEADER} token is for {claims.method}, not {method}")
        now = self.clock()
        if claims.expires_at - claims.issued_at > MAX_LIFETIME_SECONDS:
            raise Unauthenticated(f"{TOKEN_HEADER} token lives longer than "
                                  f"{MAX_LIFETIME_SECONDS} s")
        if claims.issued_at > now + LEEWAY_SECONDS:
            raise Unauthenticated(f"{TOKEN_HEADER} token issued in the future")
        if now >= claims.expires_at + LEEWAY_SECONDS:
            raise Unauthenticated(f"{TOKEN_HEADER} token expired "
                                  f"{now - claims.expires_at:.0f} s ago")
        return claims


def _valid(key: Ed25519PublicKey, signature: bytes, signed: bytes) -> bool:
    try:
        key.verify(signature, signed)
    except InvalidSignature:
        return False
    return True


def _claims(body: str) -> InternalClaims:
    """The signed claims, with their types checked (the signature says who, not what shape)."""
    try:
        raw = json.loads(_unb64(body))
    except (ValueError, binascii.Error):
        raise Unauthenticated(f"malformed {TOKEN_HEADER} token claims") from None
    if not isinstance(raw, dict):
        raise Unauthenticated(f"malformed {TOKEN_HEADER} token claims")
    strings = ("tenant", "actor", "request_id", "method", "aud")
    if not all(isinstance(raw.get(name), str) for name in strings):
        raise Unauthenticated(f"{TOKEN_HEADER} token: {', '.join(strings)} must be strings")
    roles = raw.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthenticated(f"{TOKEN_HEADER} token: roles must be a list of strings")
    times = (raw.get("iat"), raw.get("exp"))
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in times):
        raise Unauthenticated(f"{TOKEN_HEADER} token: iat and exp must be integers")
    if not raw["tenant"].strip():
        raise Unauthenticated(f"{TOKEN_HEADER} token names no tenant")
    return InternalClaims(
        tenant=raw["tenant"], actor=raw["actor"], roles=frozenset(roles),
        request_id=raw["request_id"], method=raw["method"], audience=raw["aud"],
        issued_at=raw["iat"], expires_at=raw["exp"],
    )


# --- the server side: which method is being called, verified by whom --------------------------


@dataclass(frozen=True)
class _Call:
    method: str
    verifier: InternalVerifier | None


_CURRENT: contextvars.ContextVar[_Call | None] = contextvars.ContextVar(
    "oon_internal_call", default=None)


class CallTarget(grpc.aio.ServerInterceptor):
    """Remembers, for the handler, the method called and the server's verifier (a servicer
    context does not expose the method name). It checks nothing itself: health and reflection
    stay open, and `verify_call` (from the `@rpc` wrappers) does the checking."""

    def __init__(self, verifier: InternalVerifier | None) -> None:
        self.verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method  # type: ignore[attr-defined]
        _CURRENT.set(_Call(method, self.verifier))
        return await continuation(handler_call_details)


def current_method() -> str:
    """The full gRPC method being served (`/pkg.Service/Method`), "" outside a call."""
    call = _CURRENT.get()
    return call.method if call is not None else ""


def verify_call(metadata: Mapping[str, str]) -> InternalClaims:
    """The one check every servicer method goes through (via `command_context`)."""
    call = _CURRENT.get()
    if call is None or call.verifier is None:
        raise Unauthenticated("this server has no key to verify callers with")
    return call.verifier.verify(metadata.get(TOKEN_HEADER, "").strip(), call.method)


# --- the client side for trusted tools (tests, benchmarks, the auditor CLI) --------------------

_IDENTITY_HEADERS = ("x-tenant-id", "x-actor", "x-roles")


class _Signing:
    """Signs each call on a channel to one service, as the gateway would, from the identity the
    caller wrote in plain `x-tenant-id` / `x-actor` / `x-roles` / `x-request-id` metadata
    (which is then removed). Without `x-tenant-id` nothing is signed."""

    def __init__(self, signer: InternalSigner, audience: str) -> None:
        self.signer = signer
        self.audience = audience

    def _signed(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        pairs = [(k, v) for k, v in (details.metadata or ()) if isinstance(v, str)]
        identity = dict(pairs)
        if not identity.get("x-tenant-id"):
            return details
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        token = self.signer.token(
            audience=self.audience, method=method, tenant=identity["x-tenant-id"],
            actor=identity.get("x-actor", ""),
            roles=[r.strip() for r in identity.get("x-roles", "").split(",") if r.strip()],
            request_id=identity.get("x-request-id", ""),
        )
        kept = [(k, v) for k, v in (details.metadata or ()) if k not in _IDENTITY_HEADERS]
        metadata = grpc.aio.Metadata(*kept, (TOKEN_HEADER, token))
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials,
            details.wait_for_ready,
        )


# grpc.aio files an interceptor under the first call kind it implements: one class per kind.
class _SigningUnary(_Signing, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._signed(client_call_details), request)


class _SigningStream(_Signing, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        return await continuation(self._signed(client_call_details), request)


def signed_channel(address: str, audience: str, signer: InternalSigner,
                   **kwargs: Any) -> grpc.aio.Channel:
    """An insecure channel to one service whose calls carry tokens signed by `signer` (for
    trusted tools: tests, benchmarks, the auditor CLI's direct mode)."""
    interceptors = [_SigningUnary(signer, audience), _SigningStream(signer, audience)]
    return grpc.aio.insecure_channel(address, interceptors=interceptors, **kwargs)
