"""gRPC health probe for the container image (what `grpc_health_probe` does, in Python).

Asks the standard `grpc.health.v1.Health/Check` of the local process and exits 0 only when it
answers SERVING, 1 otherwise. Docker's HEALTHCHECK and compose use it; Kubernetes uses its
native `grpc` probe on the same service.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.catalog import UnknownComponentError, component_named


def default_address(environ: Mapping[str, str]) -> str:
    """`127.0.0.1:<port>` of the component this container runs (`OON_SERVICE`)."""
    explicit = environ.get("OON_HEALTH_ADDRESS")
    if explicit:
        return explicit
    component = component_named(environ.get("OON_SERVICE", ""))
    port = environ.get(component.port_variable, str(component.grpc_port))
    return f"127.0.0.1:{port}"


def check(address: str, service: str = "", timeout: float = 3.0) -> str:
    """The serving status name the server at `address` reports (`SERVING`, `NOT_SERVING`...)."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            return f"UNREACHABLE ({exc.code().name})"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", help="host:port; default 127.0.0.1:<port of OON_SERVICE>")
    parser.add_argument("--service", default="", help="health service name; '' = whole server")
    parser.add_argument("--timeout", type=float, default=3.0)
    options = parser.parse_args(argv)
    try:
        address = options.address or default_address(os.environ)
    except UnknownComponentError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 2
    status = check(address, options.service, options.timeout)
    print(f"{address}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
