"""A client's auto-approval rules for provider decision points.

A rule approves an ACCEPT proposal when the offer on the table reaches a threshold: a share of
billed charges or a multiple of the QPA (both in basis points). Anything else goes to a person
with the `provider_approver` role. The deciding rule is recorded on the approval event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class AutoApprovalRule:
    rule_id: str
    min_basis_points_of_billed: int | None = None  # 8,000 = accept at >= 80 % of billed
    min_basis_points_of_qpa: int | None = None  # 30,000 = accept at >= 3 x QPA

    def approves(self, amount_cents: int, billed_cents: int, qpa_cents: int) -> bool:
        checks = []
        if self.min_basis_points_of_billed is not None:
            checks.append(amount_cents * 10_000 >= billed_cents * self.min_basis_points_of_billed)
        if self.min_basis_points_of_qpa is not None and qpa_cents > 0:
            checks.append(amount_cents * 10_000 >= qpa_cents * self.min_basis_points_of_qpa)
        return bool(checks) and all(checks)


def deciding_rule(
    rules: Iterable[AutoApprovalRule], amount_cents: int, billed_cents: int, qpa_cents: int
) -> AutoApprovalRule | None:
    """The first rule (in the client's order) that approves accepting `amount_cents`."""
    for rule in rules:
        if rule.approves(amount_cents, billed_cents, qpa_cents):
            return rule
    return None
