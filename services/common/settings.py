"""Process configuration, read once from the environment at start-up (fail fast, not at import)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.common import internal_auth, phi
from services.common.errors import ConfigurationError

DEFAULT_GRPC_PORTS: Mapping[str, int] = {
    "gateway": 50050,
    "claims": 50051,
    "negotiation": 50052,
    "settlement": 50053,
    "fees": 50054,
    "ledger": 50055,
}

# Well-known key used only when OON_DEV_MODE=1 and no key is configured (local runs and tests).
DEV_CIPHER_KEY = "b25sZWRnZXItZGV2LW9ubHktbm90LWEtc2VjcmV0ISE="

# The largest wire envelope one event may have: well under NATS's default max_payload (1 MiB),
# so a message the broker would refuse is refused as a command instead (docs/decisions.md).
DEFAULT_MAX_EVENT_BYTES = 256 * 1024


@dataclass(frozen=True)
class Settings:
    service: str
    database_url: str
    nats_url: str
    namespace: str = ""
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 0
    cipher_key: str = DEV_CIPHER_KEY
    dev_mode: bool = False
    db_pool_size: int = 8
    stream_replicas: int = 1
    # PEM texts (services/common/internal_auth.py): the gateway's private key, the public key(s)
    # services verify callers with.
    internal_signing_key: str = ""
    internal_verify_key: str = ""
    # The /metrics + /status HTTP endpoint (0 = any free port; see runtime.metrics_port).
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    # A relay or consumer without progress for this long is reported NOT_SERVING.
    stall_seconds: float = 30.0
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    # base64 key for patient account identifiers outside the event store (services/common/phi.py);
    # "" derives one from cipher_key.
    phi_key: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls, service: str, environ: Mapping[str, str] | None = None, **overrides: object
    ) -> Settings:
        env = os.environ if environ is None else environ
        prefix = service.upper()
        missing = [name for name in ("DATABASE_URL", "NATS_URL") if not env.get(name)]
        if missing:
            raise ConfigurationError(
                f"{service}: missing required environment variable(s): {', '.join(missing)}"
            )
        namespace = env.get("OON_NAMESPACE", "")
        if namespace and not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", namespace):
            raise ConfigurationError("OON_NAMESPACE must match [a-z][a-z0-9_]{0,30}")
        dev_mode = env.get("OON_DEV_MODE", "0").lower() in ("1", "true", "yes")
        cipher_key = env.get("OON_CIPHER_KEY", "")
        if not cipher_key:
            if not dev_mode:
                raise ConfigurationError(
                    "OON_CIPHER_KEY is required (base64 AES key for personal health information "
                    "at rest); set OON_DEV_MODE=1 to use the development key locally"
                )
            cipher_key = DEV_CIPHER_KEY
        try:
            signing_key, verify_key = internal_auth.key_settings(env, dev_mode)
        except internal_auth.KeyConfigurationError as exc:
            raise ConfigurationError(f"{service}: {exc}") from exc
        try:
            phi.key_from_env({**env, "OON_CIPHER_KEY": cipher_key}, dev_mode)
        except phi.PhiKeyError as exc:
            raise ConfigurationError(f"{service}: {exc}") from exc
        port_text = env.get(f"{prefix}_GRPC_PORT", str(DEFAULT_GRPC_PORTS.get(service, 0)))
        try:
            grpc_port = int(port_text)
            pool = int(env.get(f"{prefix}_DB_POOL_SIZE", env.get("OON_DB_POOL_SIZE", "8")))
            replicas = int(env.get("OON_STREAM_REPLICAS", "1"))
            # Default 0 (any free port, logged at start): replicas may share a host; a
            # deployment that scrapes sets it (Kubernetes: OON_METRICS_PORT=9464).
            metrics_port = int(env.get(f"{prefix}_METRICS_PORT", env.get("OON_METRICS_PORT", "0")))
            stall_seconds = float(env.get("OON_STALL_SECONDS", "30"))
            max_event_bytes = int(env.get("OON_MAX_EVENT_BYTES", str(DEFAULT_MAX_EVENT_BYTES)))
        except ValueError as exc:
            raise ConfigurationError(f"{service}: {exc}") from exc
        if max_event_bytes < 4096:
            raise ConfigurationError("OON_MAX_EVENT_BYTES must be at least 4096")
        values: dict[str, object] = dict(
            service=service,
            database_url=env["DATABASE_URL"],
            nats_url=env["NATS_URL"],
            namespace=namespace,
            grpc_host=env.get(f"{prefix}_GRPC_HOST", env.get("OON_GRPC_HOST", "127.0.0.1")),
            grpc_port=grpc_port,
            cipher_key=cipher_key,
            dev_mode=dev_mode,
            db_pool_size=pool,
            stream_replicas=replicas,
            internal_signing_key=signing_key,
            internal_verify_key=verify_key,
            metrics_host=env.get(f"{prefix}_METRICS_HOST",
                                 env.get("OON_METRICS_HOST", "127.0.0.1")),
            metrics_port=metrics_port,
            stall_seconds=stall_seconds,
            max_event_bytes=max_event_bytes,
            phi_key=env.get("OON_PHI_KEY", ""),
            extra={k: v for k, v in env.items() if k.startswith(f"{prefix}_")},
        )
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def phi_keys(self) -> phi.PhiKeys:
        """OON_PHI_KEY, else one derived from the cipher key; with the development cipher key
        (OON_DEV_MODE, tests) the development PHI key, so the development keys go together and
        the golden payloads' tokens (tests/contract/golden) are reproducible."""
        phi_key = self.phi_key
        if not phi_key and self.cipher_key == DEV_CIPHER_KEY:
            phi_key = phi.DEV_PHI_KEY
        return phi.PhiKeys(phi.key_from_env(
            {"OON_PHI_KEY": phi_key, "OON_CIPHER_KEY": self.cipher_key}, dev_mode=False))

    # Names derived from the namespace keep test runs (and tenants of a shared server) apart.
    def schema_for(self, service: str) -> str:
        return f"{self.namespace}_{service}" if self.namespace else service

    @property
    def schema(self) -> str:
        return self.schema_for(self.service)

    def stream_for(self, service: str) -> str:
        base = f"OON_{service.upper()}"
        return f"{self.namespace.upper()}_{base}" if self.namespace else base

    def subject_prefix_for(self, service: str) -> str:
        return f"{self.namespace}.oon.{service}" if self.namespace else f"oon.{service}"

    @property
    def dead_letter_stream(self) -> str:
        return self.stream_for("deadletter")
