"""The role table: deny by default, every public method reachable by some role, no leaks."""

from __future__ import annotations

import pytest

from gateway.catalog import Catalog
from services.common import grpc_server
from services.common.auth import (
    ADMIN,
    AUDITOR,
    PROVIDER_APPROVER,
    ROLE_TABLE,
    ROLES,
    SYSTEM,
    grant,
    is_allowed,
    needs_roles,
    refusal,
    roles_for,
)

CATALOG = Catalog.discover()


def test_every_public_method_has_a_line_in_the_role_table():
    unmapped = [m.full_name for m in CATALOG if not roles_for(m.full_name)]
    assert not unmapped, f"add these methods to services/common/auth.py ROLE_TABLE: {unmapped}"


def test_unknown_methods_and_unknown_roles_are_denied():
    assert roles_for("oonledger.secret.v1.AdminService/DropEverything") == frozenset()
    assert not is_allowed(ROLES, "grpc.health.v1.Health/Check")
    assert not is_allowed({"system", "superuser"}, "oonledger.claims.v1.ClaimsService/GetClaim")
    assert not is_allowed(set(), "oonledger.claims.v1.ClaimsService/GetClaim")


def test_the_provider_decision_belongs_to_the_provider_approver_alone():
    for method in ("ApproveDecision", "RejectDecision"):
        full = f"oonledger.negotiation.v1.NegotiationService/{method}"
        assert roles_for(full) == {PROVIDER_APPROVER}


def test_the_audit_trail_is_for_auditors():
    audit = [m for m in CATALOG if m.upstream == "ledger"]
    for method in audit:
        assert roles_for(method.full_name) <= {AUDITOR, ADMIN}, method.full_name


def test_auditors_cannot_write():
    writes = [m for m in CATALOG if not m.is_read]
    assert writes
    assert not [m.full_name for m in writes if AUDITOR in roles_for(m.full_name)]


def test_first_matching_line_wins():
    table = (grant("a.B/Special", ADMIN), grant("a.B/*", AUDITOR))
    assert roles_for("a.B/Special", table) == {ADMIN}
    assert roles_for("a.B/Other", table) == {AUDITOR}


def test_grants_only_name_known_roles():
    for line in ROLE_TABLE:
        assert line.roles <= ROLES
    try:
        grant("x.Y/*", "root")
    except ValueError as exc:
        assert "root" in str(exc)
    else:
        raise AssertionError("an unknown role must be refused")


def test_the_services_check_this_very_table():
    """services/common/grpc_server.py checks the same object the gateway does (the gateway's
    side: gateway/tests/test_one_role_table.py)."""
    assert grpc_server.ROLE_TABLE is ROLE_TABLE


def test_system_is_never_a_caller_over_grpc():
    """Reactions and sweeps run in-process as `system`; no line grants it, so a token naming
    it is refused by every method of every service."""
    assert all(SYSTEM not in line.roles for line in ROLE_TABLE)
    assert not [m.full_name for m in CATALOG if refusal(m.path, {SYSTEM}) is None]
    with pytest.raises(ValueError):
        grant("x.Y/*", SYSTEM)


def test_a_refusal_names_the_method_and_the_roles_it_needs():
    method = "oonledger.negotiation.v1.NegotiationService/ApproveDecision"
    assert refusal(f"/{method}", {ADMIN}) == f"{method} needs one of the roles: provider_approver"
    assert refusal(method, {PROVIDER_APPROVER, ADMIN}) is None
    assert refusal("oonledger.secret.v1.S/M", ROLES) == needs_roles("oonledger.secret.v1.S/M", ())
    assert refusal("oonledger.secret.v1.S/M", ROLES).endswith("no role (not callable)")
