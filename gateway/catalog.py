"""The public RPCs the gateway fronts, discovered from the generated protobuf modules.

Nothing here is written per method: every service found under `oonledger.<upstream>.v1` is
forwarded to the process that owns that proto package.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, MethodDescriptor, ServiceDescriptor

log = logging.getLogger(__name__)

# Proto package segment → the process that serves it (the audit API lives in the ledger).
UPSTREAMS: tuple[str, ...] = ("claims", "negotiation", "settlement", "fees", "ledger")

_READ_LEVELS = (
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
    descriptor_pb2.MethodOptions.IDEMPOTENT,
)


@dataclass(frozen=True)
class Method:
    """One forwardable RPC."""

    service: str  # "oonledger.claims.v1.ClaimsService"
    name: str  # "GetClaim"
    upstream: str  # "claims"
    input: Descriptor
    output: Descriptor
    server_streaming: bool
    is_read: bool

    @property
    def full_name(self) -> str:
        """`oonledger.claims.v1.ClaimsService/GetClaim`, the key of the role table."""
        return f"{self.service}/{self.name}"

    @property
    def path(self) -> str:
        """The gRPC path on the wire: `/oonledger.claims.v1.ClaimsService/GetClaim`."""
        return f"/{self.full_name}"



def is_read(request: Descriptor, idempotency_level: int = 0) -> bool:
    """Safe to retry: declared side-effect free, or (project convention) no `request_id` field.

    Every mutating request of the project carries a caller `request_id` for idempotency.
    """
    if idempotency_level in _READ_LEVELS:
        return True
    return "request_id" not in request.fields_by_name


def method_of(upstream: str, method: MethodDescriptor) -> Method:
    return Method(
        service=method.containing_service.full_name,
        name=method.name,
        upstream=upstream,
        input=method.input_type,
        output=method.output_type,
        server_streaming=method.server_streaming,
        is_read=is_read(method.input_type, method.GetOptions().idempotency_level),
    )


class Catalog:
    """Every public method, by wire path."""

    def __init__(self, services: Iterable[tuple[str, ServiceDescriptor]]) -> None:
        self.services: list[ServiceDescriptor] = []
        self.upstream_of_service: dict[str, str] = {}
        self.by_path: dict[str, Method] = {}
        for upstream, service in services:
            self.services.append(service)
            self.upstream_of_service[service.full_name] = upstream
            for descriptor in service.methods:
                if descriptor.client_streaming:
                    log.warning("not forwarding client-streaming %s", descriptor.full_name)
                    continue
                method = method_of(upstream, descriptor)
                self.by_path[method.path] = method

    @classmethod
    def discover(cls, upstreams: Iterable[str] = UPSTREAMS) -> Catalog:
        """Import every generated `oonledger.<upstream>.v1.*_pb2` module that exists."""
        return cls(_services_in_generated_code(upstreams))

    def get(self, path: str) -> Method | None:
        return self.by_path.get(path)

    def __iter__(self) -> Iterator[Method]:
        return iter(sorted(self.by_path.values(), key=lambda m: m.full_name))

    def __len__(self) -> int:
        return len(self.by_path)

    @property
    def upstreams(self) -> list[str]:
        return sorted(set(self.upstream_of_service.values()))

    @property
    def service_names(self) -> list[str]:
        return [service.full_name for service in self.services]


def _services_in_generated_code(
    upstreams: Iterable[str],
) -> Iterator[tuple[str, ServiceDescriptor]]:
    for upstream in upstreams:
        package_name = f"oonledger.{upstream}.v1"
        try:
            package = importlib.import_module(package_name)
        except ModuleNotFoundError:
            log.info("no generated code for %s (yet); not forwarding it", package_name)
            continue
        for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if not module_info.name.endswith("_pb2"):
                continue
            module = importlib.import_module(f"{package_name}.{module_info.name}")
            for service in module.DESCRIPTOR.services_by_name.values():
                yield upstream, service
