"""The processes OON Ledger deploys: one place that names each one, its module and its ports.

The container entrypoint, the health probe, the manifests' tests and the cluster test all read
this table, so a new service is added here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    grpc_port: int
    http_port: int | None = None

    @property
    def port_variable(self) -> str:
        """Environment variable the process reads its gRPC port from (`CLAIMS_GRPC_PORT`)."""
        return f"{self.name.upper()}_GRPC_PORT"


COMPONENTS: Mapping[str, Component] = {
    component.name: component
    for component in (
        Component("gateway", "gateway.main", 50050, http_port=8080),
        Component("claims", "services.claims.main", 50051),
        Component("negotiation", "services.negotiation.main", 50052),
        Component("settlement", "services.settlement.main", 50053),
        Component("fees", "services.fees.main", 50054),
        Component("ledger", "services.ledger.main", 50055),
    )
}

# Services that own a PostgreSQL schema of their own (the gateway keeps API keys and tenants).
SCHEMA_OWNERS: tuple[str, ...] = tuple(COMPONENTS)


class UnknownComponentError(ValueError):
    """The name given is not a process this image can run."""


def component_named(name: str) -> Component:
    try:
        return COMPONENTS[name.strip().lower()]
    except KeyError:
        known = ", ".join(COMPONENTS)
        message = f"unknown component {name!r}; expected one of: {known}"
        raise UnknownComponentError(message) from None
