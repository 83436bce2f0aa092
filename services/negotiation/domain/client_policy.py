"""The client's negotiation policy: auto-approval rules and escalation chain (one per tenant)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from services.common import auth
from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.errors import Violations
from services.common.ids import deterministic_id
from services.negotiation.domain.approval_rules import AutoApprovalRule

DEFAULT_CHAIN: tuple[tuple[str, int], ...] = (
    (auth.NEGOTIATOR, 5),
    (auth.SUPERVISOR, 3),
    (auth.MANAGER, 1),
)


def policy_id(tenant_id: str) -> Any:
    return deterministic_id(tenant_id, "client-policy", "default")


def check_policy(rules: Sequence[AutoApprovalRule], chain: Sequence[tuple[str, int]]) -> None:
    v = Violations()
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        v.check(bool(rule.rule_id), f"auto_approval_rules[{i}].rule_id", "is required")
        v.check(rule.rule_id not in seen, f"auto_approval_rules[{i}].rule_id", "is repeated")
        seen.add(rule.rule_id)
        billed, qpa = rule.min_basis_points_of_billed, rule.min_basis_points_of_qpa
        v.check(bool(billed or qpa), f"auto_approval_rules[{i}]", "needs at least one threshold")
        for name, value in (
            ("min_basis_points_of_billed", billed),
            ("min_basis_points_of_qpa", qpa),
        ):
            v.check(value is None or value > 0, f"auto_approval_rules[{i}].{name}", "must be > 0")
    previous = None
    for i, (role, days) in enumerate(chain):
        v.check(bool(role), f"escalation_chain[{i}].role", "is required")
        v.check(days >= 0, f"escalation_chain[{i}].business_days_left", "must not be negative")
        if previous is not None:
            v.check(
                days < previous,
                f"escalation_chain[{i}].business_days_left",
                "each level must be closer to the deadline than the one before",
            )
        previous = days
    v.raise_if_any()


class RuleRecord(TypedDict):
    """An auto-approval rule as the PolicySet event stores it."""

    rule_id: str
    min_basis_points_of_billed: int | None
    min_basis_points_of_qpa: int | None


class ChainStepRecord(TypedDict):
    """A step of the escalation chain as the PolicySet event stores it."""

    role: str
    business_days_left: int


class ClientPolicy(TenantAggregate):
    class PolicyStarted(TenantAggregate.Created):
        """A client's policy exists (its rules arrive as later events)."""

    class PolicySet(TenantAggregate.Event):
        auto_approval_rules: list[RuleRecord]
        escalation_chain: list[ChainStepRecord]

        def apply(self, aggregate: ClientPolicy) -> None:
            aggregate.rules = [
                AutoApprovalRule(
                    r["rule_id"], r["min_basis_points_of_billed"], r["min_basis_points_of_qpa"]
                )
                for r in self.auto_approval_rules
            ]
            aggregate.chain = [
                (c["role"], int(c["business_days_left"])) for c in self.escalation_chain
            ]

    def __init__(self) -> None:
        self.rules: list[AutoApprovalRule] = []
        self.chain: list[tuple[str, int]] = list(DEFAULT_CHAIN)

    @classmethod
    def start(cls, ctx: CommandContext) -> ClientPolicy:
        # Its own request id, so the policy change in the same request is not taken for a retry.
        start_ctx = ctx.with_request(f"{ctx.request_id}:policy-started" if ctx.request_id else "")
        policy: ClientPolicy = cls._start(cls.PolicyStarted, start_ctx, id=policy_id(ctx.tenant_id))
        return policy

    def set_policy(
        self,
        ctx: CommandContext,
        rules: Sequence[AutoApprovalRule],
        chain: Sequence[tuple[str, int]],
    ) -> None:
        if self.has_handled(ctx):
            return
        check_policy(rules, chain)
        self._record(
            self.PolicySet,
            ctx,
            auto_approval_rules=[
                {
                    "rule_id": r.rule_id,
                    "min_basis_points_of_billed": r.min_basis_points_of_billed,
                    "min_basis_points_of_qpa": r.min_basis_points_of_qpa,
                }
                for r in rules
            ],
            escalation_chain=[{"role": role, "business_days_left": days} for role, days in chain],
        )
