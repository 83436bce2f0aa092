"""`python -m gateway.main`: the partner gateway (gRPC on GATEWAY_GRPC_PORT, JSON on
GATEWAY_HTTP_PORT); see docs/gateway.md for every setting."""

from __future__ import annotations

from gateway.server import make_builder
from services.common.runtime import run_service

build = make_builder()

if __name__ == "__main__":
    run_service("gateway", build)
