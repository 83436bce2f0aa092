"""Denial codes → what can fix them (DOMAIN.md §2.2).

CARC/RARC lists change three times a year; this table is versioned data, and unknown codes map
to a review remedy rather than failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

RULE_SET_VERSION = "denials/2026.12"


class Remedy(StrEnum):
    NOTHING_TO_DO = "nothing_to_do"
    RESUBMIT_CORRECTED = "resubmit_corrected"
    ATTACH_DOCUMENTATION = "attach_documentation"
    APPEAL = "appeal"
    NEGOTIATE = "negotiate"
    BILL_OTHER_PAYER = "bill_other_payer"
    CLOSE_DUPLICATE = "close_duplicate"
    WRITE_OFF = "write_off"


@dataclass(frozen=True)
class DenialRemedy:
    code: str
    meaning: str
    remedy: Remedy
    explanation: str


_CARC: dict[str, tuple[str, Remedy, str]] = {
    "1": (
        "Deductible amount",
        Remedy.NOTHING_TO_DO,
        "Patient cost sharing; must equal in-network cost sharing under the NSA.",
    ),
    "2": ("Coinsurance amount", Remedy.NOTHING_TO_DO, "Patient cost sharing."),
    "3": ("Co-payment amount", Remedy.NOTHING_TO_DO, "Patient cost sharing."),
    "4": (
        "Procedure code inconsistent with the modifier",
        Remedy.RESUBMIT_CORRECTED,
        "Fix the modifier and send a replacement claim (frequency 7).",
    ),
    "5": (
        "Procedure code/type of bill inconsistent with place of service",
        Remedy.RESUBMIT_CORRECTED,
        "Correct the place of service or bill type and resubmit.",
    ),
    "11": (
        "Diagnosis inconsistent with the procedure",
        Remedy.RESUBMIT_CORRECTED,
        "Correct the diagnosis codes or pointers and resubmit.",
    ),
    "16": (
        "Claim lacks information or has billing errors",
        Remedy.RESUBMIT_CORRECTED,
        "Add what the RARC names and resubmit; not an IDR matter.",
    ),
    "18": (
        "Exact duplicate claim/service",
        Remedy.CLOSE_DUPLICATE,
        "Duplicate: close this one and follow the original claim's adjudication.",
    ),
    "22": (
        "May be covered by another payer (COB)",
        Remedy.BILL_OTHER_PAYER,
        "Bill the primary payer, then resubmit with its adjudication.",
    ),
    "29": (
        "Time limit for filing has expired",
        Remedy.APPEAL,
        "Appeal with proof of timely filing; otherwise write off. Not IDR-eligible.",
    ),
    "45": (
        "Charge exceeds fee schedule/maximum allowable",
        Remedy.NEGOTIATE,
        "The usual out-of-network write-down: the gap open negotiation targets.",
    ),
    "50": (
        "Not deemed a medical necessity",
        Remedy.APPEAL,
        "Coverage dispute: appeal with medical records; the IDR entity does not decide it.",
    ),
    "96": (
        "Non-covered charge",
        Remedy.APPEAL,
        "Coverage dispute (read the RARC): appeal; IDR-ineligible.",
    ),
    "97": (
        "Included in the payment for another service",
        Remedy.APPEAL,
        "Bundling dispute: appeal, or resubmit with a distinct-service modifier.",
    ),
    "119": (
        "Benefit maximum for this time period or occurrence has been reached",
        Remedy.WRITE_OFF,
        "Nothing more is payable under the plan: write off (the NSA bars balance billing).",
    ),
    "131": (
        "Claim-specific negotiated discount",
        Remedy.NOTHING_TO_DO,
        "Already negotiated for this claim.",
    ),
    "197": (
        "Precertification/authorization absent",
        Remedy.ATTACH_DOCUMENTATION,
        "Attach the authorization (or emergency records: no prior auth for emergencies).",
    ),
    "242": (
        "Services not provided by network providers",
        Remedy.NEGOTIATE,
        "Out-of-network signal: check NSA protection and start open negotiation.",
    ),
    "243": (
        "Services not authorized by network providers",
        Remedy.NEGOTIATE,
        "Out-of-network signal: check NSA protection and start open negotiation.",
    ),
    "252": (
        "An attachment/other documentation is required",
        Remedy.ATTACH_DOCUMENTATION,
        "Send the documentation the RARC names.",
    ),
}

_RARC: dict[str, tuple[str, Remedy, str]] = {
    "M51": (
        "Missing/incomplete/invalid procedure code(s)",
        Remedy.RESUBMIT_CORRECTED,
        "Correct the procedure code and resubmit.",
    ),
    "M76": (
        "Missing/incomplete/invalid diagnosis",
        Remedy.RESUBMIT_CORRECTED,
        "Correct the diagnosis and resubmit.",
    ),
    "M77": (
        "Missing/incomplete/invalid place of service",
        Remedy.RESUBMIT_CORRECTED,
        "Correct the place of service and resubmit.",
    ),
    "MA130": (
        "Claim contains incomplete/invalid information; no appeal rights",
        Remedy.RESUBMIT_CORRECTED,
        "Submit a corrected claim; an appeal will not help.",
    ),
    "N290": (
        "Missing/incomplete/invalid rendering provider identifier",
        Remedy.RESUBMIT_CORRECTED,
        "Correct the NPI and resubmit.",
    ),
    "N30": (
        "Patient ineligible for this service",
        Remedy.APPEAL,
        "Eligibility dispute: appeal with proof of coverage.",
    ),
    "N479": (
        "Missing Explanation of Benefits (COB)",
        Remedy.ATTACH_DOCUMENTATION,
        "Attach the primary payer's EOB.",
    ),
    "N706": (
        "Missing documentation",
        Remedy.ATTACH_DOCUMENTATION,
        "Send the requested documentation.",
    ),
    "N830": (
        "Charge(s) adjusted under the No Surprises Act",
        Remedy.NEGOTIATE,
        "NSA payment determination: open negotiation, then IDR if unresolved.",
    ),
}

# Denials about coverage, not amount: the IDR entity does not decide them (DOMAIN.md §1.2).
COVERAGE_DENIAL_CARCS = frozenset({"29", "50", "96", "197"})


def remedies_for(
    carc_codes: tuple[str, ...], rarc_codes: tuple[str, ...]
) -> tuple[DenialRemedy, ...]:
    out: list[DenialRemedy] = []
    for prefix, codes, table in (("CARC", carc_codes, _CARC), ("RARC", rarc_codes, _RARC)):
        for code in codes:
            known = table.get(code)
            if known is None:
                out.append(
                    DenialRemedy(
                        f"{prefix} {code}",
                        "Not in the rule set",
                        Remedy.ATTACH_DOCUMENTATION,
                        "Unknown code: review the remittance and the payer's code list.",
                    )
                )
            else:
                meaning, remedy, why = known
                out.append(DenialRemedy(f"{prefix} {code}", meaning, remedy, why))
    return tuple(out)


def primary_remedy(remedies: tuple[DenialRemedy, ...]) -> Remedy:
    """The first action to take: fixing the claim beats appealing beats negotiating."""
    order = [
        Remedy.BILL_OTHER_PAYER,
        Remedy.RESUBMIT_CORRECTED,
        Remedy.ATTACH_DOCUMENTATION,
        Remedy.APPEAL,
        Remedy.NEGOTIATE,
        Remedy.CLOSE_DUPLICATE,
        Remedy.WRITE_OFF,
        Remedy.NOTHING_TO_DO,
    ]
    present = {r.remedy for r in remedies}
    return next((remedy for remedy in order if remedy in present), Remedy.NOTHING_TO_DO)


def needs_rarc(carc: str) -> bool:
    """CARCs 16, 17, 96, 125 and A1 are meaningless without a RARC (DOMAIN.md §2.2)."""
    return carc in {"16", "17", "96", "125", "A1"}


# -- the work an adverse remittance leaves: one action, its due date, the rule that set it ----


@dataclass(frozen=True)
class ActionRule:
    """How long the biller has for an action, counted from the remittance, and why."""

    days: int  # calendar days: business days are negotiation's to count (docs/events.md)
    rule: str


# The due date of each action (docs/claims.md "The work queue follows the denial").
ACTION_RULES: dict[Remedy, ActionRule] = {
    Remedy.RESUBMIT_CORRECTED: ActionRule(
        90, "corrected claim (frequency 7): 90 calendar days after the remittance "
        "(house default for a payer's corrected-claim window)"),
    Remedy.ATTACH_DOCUMENTATION: ActionRule(
        60, "documentation: 60 calendar days after the remittance "
        "(house default for a payer's records request)"),
    Remedy.APPEAL: ActionRule(
        180, "ERISA/ACA internal appeal: 180 calendar days after the adverse "
        "determination (29 CFR 2560.503-1(h)(3)(i))"),
    # The NSA's open-negotiation clock (T1, business days) is negotiation's to compute: it is
    # on the case once opened, and on NegotiationRefused when it is not.
    Remedy.NEGOTIATE: ActionRule(
        14, "negotiate: triage and hand to negotiation within 14 calendar days of the "
        "remittance (house rule; the NSA notice deadline is on the negotiation case)"),
    Remedy.BILL_OTHER_PAYER: ActionRule(
        90, "coordination of benefits: bill the primary payer within 90 calendar days "
        "of the remittance (house default)"),
    Remedy.CLOSE_DUPLICATE: ActionRule(
        30, "duplicate: close within 30 calendar days of the remittance (house rule)"),
    Remedy.WRITE_OFF: ActionRule(
        30, "write-off: post within 30 calendar days of the remittance (house rule)"),
}


@dataclass(frozen=True)
class WorkAction:
    """What an adverse remittance asks of the biller next."""

    remedy: Remedy
    due: date | None
    rule: str
    reason: str
    rule_set_version: str = RULE_SET_VERSION


def action_due(remedy: Remedy, start: date) -> tuple[date | None, str]:
    """The due date of `remedy` counted from `start`, and the rule that set it."""
    rule = ACTION_RULES.get(remedy)
    if rule is None:
        return None, ""
    return start + timedelta(days=rule.days), rule.rule


def work_action(remedies: tuple[DenialRemedy, ...], received: date) -> WorkAction:
    """The first action the remittance's codes call for (`primary_remedy`), with its reason."""
    remedy = primary_remedy(remedies)
    due, rule = action_due(remedy, received)
    reason = next(
        (f"{r.code}: {r.meaning}. {r.explanation}" for r in remedies if r.remedy is remedy), ""
    )
    return WorkAction(remedy, due, rule, reason)
