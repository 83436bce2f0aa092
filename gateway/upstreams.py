"""One gRPC channel per upstream service, addressed from the environment.

`<SVC>_ADDR` (or `<SVC>_ADDRESS`, as the deploy manifests write it), default
`127.0.0.1:<the service's default port>`. `dns:///name:port` addresses are balanced per call.
Reads are retried by the channel on UNAVAILABLE (gRPC retry policy); writes never are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import grpc

from gateway.catalog import Catalog
from services.common.settings import DEFAULT_GRPC_PORTS


def upstream_address(upstream: str, environ: Mapping[str, str]) -> str:
    prefix = upstream.upper()
    return (
        environ.get(f"{prefix}_ADDR")
        or environ.get(f"{prefix}_ADDRESS")
        or f"127.0.0.1:{DEFAULT_GRPC_PORTS[upstream]}"
    )


def service_config(catalog: Catalog, upstream: str) -> str:
    """Retry policy for the upstream's read methods; round-robin over resolved addresses."""
    reads = [
        {"service": m.service, "method": m.name}
        for m in catalog
        if m.upstream == upstream and m.is_read
    ]
    config: dict[str, object] = {"loadBalancingConfig": [{"round_robin": {}}]}
    if reads:
        config["methodConfig"] = [
            {
                "name": reads,
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    return json.dumps(config)


class Upstreams:
    def __init__(self, catalog: Catalog, environ: Mapping[str, str], max_message_bytes: int):
        self.addresses = {name: upstream_address(name, environ) for name in catalog.upstreams}
        self.channels: dict[str, grpc.aio.Channel] = {
            name: grpc.aio.insecure_channel(
                address,
                options=[
                    ("grpc.service_config", service_config(catalog, name)),
                    ("grpc.enable_retries", 1),
                    ("grpc.max_send_message_length", max_message_bytes),
                    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ],
            )
            for name, address in self.addresses.items()
        }
        self._unary: dict[str, grpc.aio.UnaryUnaryMultiCallable] = {}
        self._stream: dict[str, grpc.aio.UnaryStreamMultiCallable] = {}
        for method in catalog:
            channel = self.channels[method.upstream]
            # No (de)serializers: the bytes go through untouched.
            if method.server_streaming:
                self._stream[method.path] = channel.unary_stream(method.path)
            else:
                self._unary[method.path] = channel.unary_unary(method.path)

    def unary(self, path: str) -> grpc.aio.UnaryUnaryMultiCallable:
        return self._unary[path]

    def stream(self, path: str) -> grpc.aio.UnaryStreamMultiCallable:
        return self._stream[path]

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
