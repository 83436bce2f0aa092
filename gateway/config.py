"""Gateway options, read once at start-up from the environment (fail fast on bad values)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.settings import ConfigurationError, Settings


@dataclass(frozen=True)
class Limits:
    # A 50,000-claim 835 (about 10 MB, 13.4 MB as base64 in JSON) with room to spare.
    max_request_bytes: int = 32 * 1024 * 1024
    default_deadline_seconds: float = 10.0
    # A caller may ask for this much: a 50,000-claim ImportRemittance takes 30 s on an idle
    # 2-core machine and more under load (docs/settlement.md).
    max_deadline_seconds: float = 300.0
    # Audit replays of long histories stream for a while.
    stream_deadline_seconds: float = 300.0


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None  # set → clients must present a certificate signed by it (mTLS)


@dataclass(frozen=True)
class WebhookOptions:
    # http:// endpoints and private/loopback hosts: a development gateway only.
    allow_insecure: bool = False
    max_backoff_seconds: float = 300.0
    timeout_seconds: float = 10.0
    poll_seconds: float = 0.5


@dataclass(frozen=True)
class GatewayConfig:
    http_host: str
    http_port: int
    http_max_connections: int
    tls_grpc_port: int
    limits: Limits
    key_cache_seconds: float
    presence_seconds: float
    default_rate_per_second: float
    default_burst: int
    tls: TlsFiles | None
    upstream_env: Mapping[str, str]
    webhooks: WebhookOptions = WebhookOptions()

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str]) -> GatewayConfig:
        env = {**environ, **settings.extra}

        def number(name: str, default: float) -> float:
            text = env.get(name, "")
            try:
                value = float(text) if text else default
            except ValueError:
                raise ConfigurationError(f"{name} must be a number, not {text!r}") from None
            if value < 0:
                raise ConfigurationError(f"{name} must not be negative")
            return value

        cert, key = env.get("GATEWAY_TLS_CERT", ""), env.get("GATEWAY_TLS_KEY", "")
        if bool(cert) != bool(key):
            raise ConfigurationError("GATEWAY_TLS_CERT and GATEWAY_TLS_KEY go together")
        ca = env.get("GATEWAY_TLS_CLIENT_CA", "")
        if ca and not cert:
            raise ConfigurationError("GATEWAY_TLS_CLIENT_CA needs GATEWAY_TLS_CERT/KEY")
        tls = TlsFiles(Path(cert), Path(key), Path(ca) if ca else None) if cert else None
        for path in (tls.cert, tls.key, tls.client_ca) if tls else ():
            if path is not None and not path.is_file():
                raise ConfigurationError(f"TLS file not found: {path}")
        return cls(
            http_host=env.get("GATEWAY_HTTP_HOST", settings.grpc_host),
            http_port=int(number("GATEWAY_HTTP_PORT", 8080)),
            http_max_connections=max(1, int(number("GATEWAY_HTTP_MAX_CONNECTIONS", 1024))),
            tls_grpc_port=int(number("GATEWAY_TLS_PORT", 50443)),
            limits=Limits(
                max_request_bytes=int(number("GATEWAY_MAX_REQUEST_BYTES", 32 * 1024 * 1024)),
                default_deadline_seconds=number("GATEWAY_DEFAULT_DEADLINE_SECONDS", 10.0),
                max_deadline_seconds=number("GATEWAY_MAX_DEADLINE_SECONDS", 300.0),
                stream_deadline_seconds=number("GATEWAY_STREAM_DEADLINE_SECONDS", 300.0),
            ),
            key_cache_seconds=number("GATEWAY_KEY_CACHE_SECONDS", 5.0),
            presence_seconds=number("GATEWAY_PRESENCE_SECONDS", 2.0),
            default_rate_per_second=number("GATEWAY_DEFAULT_RATE_PER_SECOND", 50.0),
            default_burst=int(number("GATEWAY_DEFAULT_BURST", 100)),
            tls=tls,
            upstream_env=env,
            webhooks=WebhookOptions(
                allow_insecure=env.get("GATEWAY_WEBHOOK_ALLOW_INSECURE", "0").lower()
                in ("1", "true", "yes"),
                max_backoff_seconds=max(1.0, number("GATEWAY_WEBHOOK_MAX_BACKOFF_SECONDS", 300)),
                timeout_seconds=max(0.5, number("GATEWAY_WEBHOOK_TIMEOUT_SECONDS", 10)),
                poll_seconds=max(0.05, number("GATEWAY_PARTNER_POLL_SECONDS", 0.5)),
            ),
        )
