"""The 835 balancing and code rules of DOMAIN.md §2.3: a file that breaks one is not posted."""

from __future__ import annotations

from dataclasses import dataclass

import services.settlement.domain.code_lists as code_lists
from services.common.money import x12_amount
from services.settlement.domain.remittance import ClaimPayment, Remittance


@dataclass(frozen=True, slots=True)
class BalancingIssue:
    """A broken rule: `rule` names it, `where` points at the data, `detail` gives the figures."""

    rule: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule} at {self.where}: {self.detail}"


def _money(cents: int) -> str:
    return x12_amount(cents)


def _check_codes(claim: ClaimPayment, where: str) -> list[BalancingIssue]:
    issues: list[BalancingIssue] = []
    if claim.status_code not in code_lists.CLAIM_STATUS:
        issues.append(BalancingIssue("unknown-claim-status", where, f"CLP02 {claim.status_code!r}"))
    for adjustment in claim.all_adjustments():
        if adjustment.group not in code_lists.ADJUSTMENT_GROUPS:
            issues.append(
                BalancingIssue("unknown-adjustment-group", where, f"CAS01 {adjustment.group!r}")
            )
        if not code_lists.CARC_PATTERN.match(adjustment.reason):
            issues.append(
                BalancingIssue("malformed-adjustment-reason", where, f"CARC {adjustment.reason!r}")
            )
    return issues


def _check_claim(claim: ClaimPayment, where: str) -> list[BalancingIssue]:
    issues = _check_codes(claim, where)
    for number, line in enumerate(claim.service_lines, start=1):
        line_adjusted = sum(a.amount_cents for a in line.adjustments)
        if line.charge_cents - line_adjusted != line.paid_cents:
            issues.append(
                BalancingIssue(
                    "line-balance",
                    f"{where} SVC {number}",
                    f"SVC02 {_money(line.charge_cents)} - CAS {_money(line_adjusted)} "
                    f"!= SVC03 {_money(line.paid_cents)}",
                )
            )
    adjusted = sum(a.amount_cents for a in claim.all_adjustments())
    if claim.charge_cents - adjusted != claim.paid_cents:
        issues.append(
            BalancingIssue(
                "claim-balance",
                where,
                f"CLP03 {_money(claim.charge_cents)} - CAS {_money(adjusted)} "
                f"!= CLP04 {_money(claim.paid_cents)}",
            )
        )
    # A predetermination (status 25) prices the lines without paying them.
    if claim.service_lines and claim.status_code != code_lists.PREDETERMINATION_STATUS:
        lines_paid = sum(line.paid_cents for line in claim.service_lines)
        if lines_paid != claim.paid_cents:
            issues.append(
                BalancingIssue(
                    "claim-lines-balance",
                    where,
                    f"sum SVC03 {_money(lines_paid)} != CLP04 {_money(claim.paid_cents)}",
                )
            )
    if claim.is_reversal and (claim.paid_cents > 0 or claim.charge_cents > 0):
        issues.append(
            BalancingIssue(
                "reversal-not-negated",
                where,
                "CLP02 22 requires negated CLP03/CLP04 amounts",
            )
        )
    return issues


def check_remittance(remittance: Remittance) -> list[BalancingIssue]:
    """Every balancing and code issue of one transaction; an empty list means it may be posted."""
    where_tx = f"ST {remittance.control_number} TRN {remittance.trace_number}"
    issues: list[BalancingIssue] = []
    if remittance.handling_code not in code_lists.HANDLING_CODES:
        issues.append(
            BalancingIssue("unknown-handling-code", where_tx, f"BPR01 {remittance.handling_code!r}")
        )
    if remittance.payment_method not in code_lists.PAYMENT_METHODS:
        issues.append(
            BalancingIssue(
                "unknown-payment-method", where_tx, f"BPR04 {remittance.payment_method!r}"
            )
        )
    for adjustment in remittance.provider_adjustments:
        if adjustment.reason not in code_lists.PROVIDER_ADJUSTMENT_REASONS:
            issues.append(
                BalancingIssue(
                    "unknown-provider-adjustment", where_tx, f"PLB {adjustment.reason!r}"
                )
            )
    for claim in remittance.claims:
        where = f"CLP {claim.ordinal}"  # never the CLP01 itself: reasons leave the event store
        issues.extend(_check_claim(claim, where))
    claims_paid = sum(claim.paid_cents for claim in remittance.claims)
    provider_adjusted = sum(p.amount_cents for p in remittance.provider_adjustments)
    if claims_paid - provider_adjusted != remittance.total_paid_cents:
        issues.append(
            BalancingIssue(
                "transaction-balance",
                where_tx,
                f"sum CLP04 {_money(claims_paid)} - sum PLB {_money(provider_adjusted)} "
                f"!= BPR02 {_money(remittance.total_paid_cents)}",
            )
        )
    if remittance.total_paid_cents < 0:
        issues.append(
            BalancingIssue("negative-payment", where_tx, "BPR02 must not be negative; use PLB FB")
        )
    return issues


def patient_responsibility_warnings(remittance: Remittance) -> list[BalancingIssue]:
    """CLP05 normally equals the PR-group total; a mismatch is reported, not rejected."""
    warnings: list[BalancingIssue] = []
    for claim in remittance.claims:
        pr_total = sum(
            a.amount_cents
            for a in claim.all_adjustments()
            if a.group == code_lists.PATIENT_RESPONSIBILITY_GROUP
        )
        if pr_total != claim.patient_responsibility_cents:
            warnings.append(
                BalancingIssue(
                    "patient-responsibility",
                    f"CLP {claim.ordinal}",
                    f"CLP05 {_money(claim.patient_responsibility_cents)} "
                    f"!= sum PR {_money(pr_total)}",
                )
            )
    return warnings
