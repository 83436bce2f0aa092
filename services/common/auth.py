"""Authorization, in one place: which roles may call which method, and the role check.

One ordered table, first match wins, deny by default. The gateway checks it before forwarding a
call and every service checks it again on the roles in the gateway's signed token
(services/common/grpc_server.py), so a service never trusts that a call came through the
gateway. Rules that depend on the data (who may decide a given decision point) stay in the
domain and use `require_role`.

Patterns are `fnmatch` patterns over `<package>.<Service>/<Method>`; a new method of a service is
covered by its service's catch-all line until it needs a line of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from services.common.context import CommandContext
from services.common.errors import PermissionDenied

NEGOTIATOR = "negotiator"
PROVIDER_APPROVER = "provider_approver"
AUDITOR = "auditor"
FINANCE = "finance"
ADMIN = "admin"
# The negotiation service's escalation chain also knows these two.
SUPERVISOR = "supervisor"
MANAGER = "manager"
# Never grantable to a key: "system" is the services' own identity for event reactions and
# sweeps, which run in-process and never over gRPC. No line of ROLE_TABLE grants it (`grant`
# refuses it), so every service refuses a token naming it (services/common/grpc_server.py).
SYSTEM = "system"
ROLES: frozenset[str] = frozenset(
    {NEGOTIATOR, PROVIDER_APPROVER, AUDITOR, FINANCE, ADMIN, SUPERVISOR, MANAGER}
)

CLAIMS = "oonledger.claims.v1.ClaimsService"
NEGOTIATION = "oonledger.negotiation.v1.NegotiationService"
SETTLEMENT = "oonledger.settlement.v1.SettlementService"
FEES = "oonledger.fees.v1.FeesService"
LEDGER = "oonledger.ledger.v1.*"
PARTNER = "oonledger.partner.v1.PartnerEventsService"


@dataclass(frozen=True)
class Grant:
    pattern: str
    roles: frozenset[str]

    def matches(self, full_method: str) -> bool:
        return fnmatchcase(full_method, self.pattern)


def grant(pattern: str, *roles: str) -> Grant:
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown role(s) {sorted(unknown)} in grant {pattern!r}")
    return Grant(pattern, frozenset(roles))


EVERYONE = tuple(sorted(ROLES))
STAFF = (NEGOTIATOR, FINANCE, ADMIN)

# First match wins. Specific lines above the catch-all line of their service. The services
# check roles again where a business rule names them (e.g. who decides a provider decision).
ROLE_TABLE: tuple[Grant, ...] = (
    # The provider's own yes/no on a decision point is never delegated (not even to admin).
    grant(f"{NEGOTIATION}/ApproveDecision", PROVIDER_APPROVER),
    grant(f"{NEGOTIATION}/RejectDecision", PROVIDER_APPROVER),
    # A counter-offer can be made from an approved decision by the approver.
    grant(f"{NEGOTIATION}/MakeOffer", NEGOTIATOR, ADMIN, PROVIDER_APPROVER),
    # A negotiator only to take a case themself (services/negotiation/application.py).
    grant(f"{NEGOTIATION}/AssignNegotiation", NEGOTIATOR, SUPERVISOR, MANAGER, ADMIN),
    grant(f"{NEGOTIATION}/ExtendDeadline", NEGOTIATOR, SUPERVISOR, ADMIN),
    grant(f"{NEGOTIATION}/SetClientPolicy", ADMIN),
    grant(f"{NEGOTIATION}/EscalateDueDeadlines", ADMIN),
    grant(f"{NEGOTIATION}/SuggestOffer", NEGOTIATOR, PROVIDER_APPROVER, SUPERVISOR, MANAGER,
          ADMIN),
    # The audit trail: auditors (and the vendor's admin) only.
    grant(f"{LEDGER}/*", AUDITOR, ADMIN),
    # Partners are told (the gateway itself, gateway/partner/): any key of the tenant may
    # follow its events; webhooks are configured by the tenant's admin.
    grant(f"{PARTNER}/Subscribe", *EVERYONE),
    grant(f"{PARTNER}/*", ADMIN),
    # Operators: reconciliation and dead letters (the gateway itself, gateway/operations.py).
    grant("oonledger.operations.v1.*", ADMIN),
    # Reads of a tenant's own data: every role.
    grant("oonledger.*/Get*", *EVERYONE),
    grant("oonledger.*/List*", *EVERYONE),
    # Following an import job's progress (claims' 837, settlement's 835) is a read.
    grant("oonledger.*/WatchImportJob", *EVERYONE),
    grant(f"{CLAIMS}/ClaimsWorkQueue", *EVERYONE),
    grant(f"{CLAIMS}/Export837", NEGOTIATOR, FINANCE, ADMIN),
    grant(f"{FEES}/PreviewFee", *STAFF),
    grant(f"{SETTLEMENT}/CheckBook", FINANCE, AUDITOR, ADMIN),
    # Writes, by the team that owns each stage of the journey.
    grant(f"{CLAIMS}/*", NEGOTIATOR, ADMIN),
    grant(f"{NEGOTIATION}/*", NEGOTIATOR, ADMIN),
    grant(f"{SETTLEMENT}/*", FINANCE, ADMIN),
    grant(f"{FEES}/*", FINANCE, ADMIN),
)


def roles_for(full_method: str, table: Iterable[Grant] = ROLE_TABLE) -> frozenset[str]:
    """The roles allowed to call `full_method`; empty when no line matches (denied)."""
    for line in table:
        if line.matches(full_method):
            return line.roles
    return frozenset()


def is_allowed(
    roles: Iterable[str], full_method: str, table: Iterable[Grant] = ROLE_TABLE
) -> bool:
    return bool(roles_for(full_method, table).intersection(roles))


def refusal(
    full_method: str, roles: Iterable[str], table: Iterable[Grant] = ROLE_TABLE
) -> str | None:
    """Why `table` refuses `roles` the method `full_method` (`pkg.Service/Method`, with or
    without the leading slash of a gRPC path), or None when one of the roles is allowed."""
    name = full_method.lstrip("/")
    allowed = roles_for(name, table)
    return None if allowed.intersection(roles) else needs_roles(name, allowed)


def needs_roles(full_method: str, allowed: Iterable[str]) -> str:
    """The one wording of a refusal by the role table (gateway and services alike)."""
    return (f"{full_method.lstrip('/')} needs one of the roles: "
            f"{', '.join(sorted(allowed)) or 'no role (not callable)'}")


def require_role(ctx: CommandContext, roles: Iterable[str], action: str) -> None:
    """PermissionDenied unless the caller holds one of `roles` (a rule of the domain)."""
    allowed = tuple(roles)
    if not ctx.has_role(*allowed):
        raise PermissionDenied(f"{action} needs one of the roles: {', '.join(allowed)}")
