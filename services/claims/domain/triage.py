"""Triage: is a claim NSA-protected, which dispute process applies, and is it worth negotiating.

Pure and rule-set versioned: the same inputs and version always give the same decision, and
every decision lists the reasons behind it (DOMAIN.md §1.1 scope, §1.10 routing table).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.claims.domain import state_laws
from services.claims.domain.claim_data import (
    PUBLIC_PROGRAMS,
    Adjudication,
    ClaimData,
    ClaimType,
    DocumentKind,
    PlanFunding,
    Route,
)
from services.claims.domain.denials import COVERAGE_DENIAL_CARCS
from services.claims.domain.service_class import ServiceClass, classify

RULE_SET_VERSION = "triage/2026.11"


@dataclass(frozen=True)
class TriagePolicy:
    """Per-client thresholds (defaults are product assumptions, set per client contract)."""

    high_dollar_threshold_cents: int = 100_000
    underpaid_below_billed_bps: int = 5_000


@dataclass(frozen=True)
class Reason:
    code: str
    explanation: str


@dataclass(frozen=True)
class TriageDecision:
    rule_set_version: str
    route: Route
    nsa_protected: bool
    worth_negotiating: bool
    reasons: tuple[Reason, ...]
    missing_documents: tuple[DocumentKind, ...]
    service_class: ServiceClass


def triage(
    data: ClaimData,
    adjudication: Adjudication | None,
    documents: frozenset[DocumentKind],
    policy: TriagePolicy = TriagePolicy(),
) -> TriageDecision:
    reasons: list[Reason] = []
    service = classify(data)
    protected = _nsa_scope(data, service, documents, reasons)
    route = _route(data, service, protected, reasons) if protected else Route.NOT_ELIGIBLE
    worth = _worth_negotiating(data, adjudication, policy, route, reasons)
    return TriageDecision(
        rule_set_version=RULE_SET_VERSION,
        route=route,
        nsa_protected=protected,
        worth_negotiating=worth,
        reasons=tuple(reasons),
        missing_documents=_missing_documents(data, adjudication, documents),
        service_class=service,
    )


def _nsa_scope(
    data: ClaimData,
    service: ServiceClass,
    documents: frozenset[DocumentKind],
    reasons: list[Reason],
) -> bool:
    """DOMAIN.md §1.1: which claims the No Surprises Act protects."""
    funding = data.plan.funding
    if funding is PlanFunding.UNINSURED:
        reasons.append(
            Reason(
                "UNINSURED",
                "Uninsured/self-pay: good-faith estimate and "
                "patient-provider dispute process, not IDR.",
            )
        )
        return False
    if funding in PUBLIC_PROGRAMS:
        reasons.append(
            Reason(
                "PUBLIC_PROGRAM",
                f"{funding.value}: federal IDR is not available "
                "for Medicare, Medicaid, CHIP, TRICARE, VA/IHS.",
            )
        )
        return False
    if service is ServiceClass.GROUND_AMBULANCE:
        reasons.append(Reason("GROUND_AMBULANCE", "Ground ambulance is excluded from the NSA."))
        return False
    if service is ServiceClass.AIR_AMBULANCE:
        reasons.append(
            Reason(
                "AIR_AMBULANCE",
                "Out-of-network air ambulance is protected "
                "(separate IDR factors: vehicle type, pick-up location).",
            )
        )
        return True
    if service is ServiceClass.EMERGENCY:
        reasons.append(
            Reason(
                "EMERGENCY",
                "Emergency services are protected at any facility, "
                "including post-stabilization care without valid consent.",
            )
        )
        return True
    if service is ServiceClass.ANCILLARY_AT_IN_NETWORK_FACILITY:
        reasons.append(
            Reason(
                "ANCILLARY_AT_IN_NETWORK_FACILITY",
                "Ancillary services (anesthesia,"
                " pathology, radiology, ...) at an in-network facility are protected"
                " and notice-and-consent cannot waive that.",
            )
        )
        return True
    if service is ServiceClass.NON_EMERGENCY_AT_IN_NETWORK_FACILITY:
        if DocumentKind.NOTICE_AND_CONSENT in documents:
            reasons.append(
                Reason(
                    "NOTICE_AND_CONSENT_WAIVER",
                    "Non-ancillary service at an "
                    "in-network facility with signed notice and consent on file: "
                    "the patient waived NSA protection.",
                )
            )
            return False
        reasons.append(
            Reason(
                "OON_CLINICIAN_AT_IN_NETWORK_FACILITY",
                "Out-of-network clinician at"
                " an in-network facility: the patient had no meaningful choice.",
            )
        )
        return True
    reasons.append(
        Reason(
            "NOT_IN_SCOPE",
            "Non-emergency care outside an in-network facility: the NSA does not protect it.",
        )
    )
    return False


def _route(data: ClaimData, service: ServiceClass, protected: bool, reasons: list[Reason]) -> Route:
    """DOMAIN.md §1.10: federal IDR, a state process, the Maryland APM, or none."""
    if (
        data.service_state in state_laws.ALL_PAYER_MODEL_STATES
        and data.claim_type is ClaimType.INSTITUTIONAL
    ):
        reasons.append(
            Reason(
                "ALL_PAYER_MODEL",
                f"{data.service_state} hospital services: the "
                "All-Payer Model rate applies; no IDR.",
            )
        )
        return Route.ALL_PAYER_MODEL
    funding = data.plan.funding
    if funding is PlanFunding.FEHB:
        reasons.append(Reason("FEHB", "FEHB carrier: federal IDR (OPM)."))
        return Route.FEDERAL_IDR
    situs = data.plan.situs_state
    law = state_laws.state_law_for(situs, data.first_service_date) if situs else None
    if law is not None and service in law.excluded_services:
        reasons.append(
            Reason(
                "STATE_LAW_EXCLUDES_SERVICE",
                f"{situs} law does not reach {service.value}: federal IDR.",
            )
        )
        return Route.FEDERAL_IDR
    if funding is PlanFunding.FULLY_INSURED:
        if law is not None:
            reasons.append(
                Reason(
                    "FULLY_INSURED_STATE_LAW",
                    f"Fully insured plan sitused in "
                    f"{situs}, whose specified state law covers the service: state "
                    "process (federal IDR ineligible).",
                )
            )
            return Route.STATE_PROCESS
        reasons.append(
            Reason(
                "FULLY_INSURED_NO_STATE_LAW",
                f"Fully insured plan; no specified "
                f"state law in {situs or 'the situs state'}: federal IDR.",
            )
        )
        return Route.FEDERAL_IDR
    if funding is PlanFunding.SELF_FUNDED_ERISA:
        if law is not None and law.allows_self_funded_opt_in and data.plan.state_law_opt_in:
            reasons.append(
                Reason(
                    "SELF_FUNDED_OPTED_IN",
                    f"Self-funded ERISA plan opted into {situs}'s law: state process.",
                )
            )
            return Route.STATE_PROCESS
        reasons.append(
            Reason(
                "SELF_FUNDED_NOT_OPTED_IN",
                "Self-funded ERISA plan not opted in to "
                "a state law: ERISA preemption, federal IDR.",
            )
        )
        return Route.FEDERAL_IDR
    if funding in (PlanFunding.NON_FEDERAL_GOVERNMENTAL, PlanFunding.CHURCH):
        if law is not None and law.covers_governmental_plans:
            reasons.append(
                Reason(
                    "STATE_REACHES_PLAN",
                    f"{situs} law reaches {funding.value} plans: state process.",
                )
            )
            return Route.STATE_PROCESS
        reasons.append(
            Reason(
                "STATE_DOES_NOT_REACH_PLAN",
                f"{funding.value} plan outside the state law's reach: federal IDR by default.",
            )
        )
        return Route.FEDERAL_IDR
    reasons.append(
        Reason(
            "PLAN_FUNDING_UNKNOWN",
            "Plan funding not stated: federal IDR assumed until the plan is identified.",
        )
    )
    return Route.FEDERAL_IDR


def _worth_negotiating(
    data: ClaimData,
    adjudication: Adjudication | None,
    policy: TriagePolicy,
    route: Route,
    reasons: list[Reason],
) -> bool:
    if data.plan.funding in PUBLIC_PROGRAMS:
        return False  # rates are set by the program; nothing to negotiate
    if route is Route.ALL_PAYER_MODEL:
        return False
    signals: list[Reason] = []
    billed = data.billed_cents
    if billed >= policy.high_dollar_threshold_cents:
        signals.append(
            Reason(
                "HIGH_DOLLAR",
                f"Billed {billed} cents ≥ the client's threshold "
                f"{policy.high_dollar_threshold_cents}.",
            )
        )
    if data.emergency:
        signals.append(Reason("EMERGENCY_CLAIM", "Emergency claims are routinely underpaid."))
    if data.plan.narrow_network or data.plan.marketplace:
        signals.append(
            Reason(
                "NARROW_NETWORK_OR_MARKETPLACE",
                "Narrow-network or marketplace plan:"
                " out-of-network payment tends to sit near the QPA.",
            )
        )
    if adjudication is None:
        reasons.append(
            Reason(
                "AWAITING_ADJUDICATION",
                "No initial payment or denial yet: open negotiation can start only after it.",
            )
        )
    else:
        coverage = sorted(set(adjudication.carc_codes) & COVERAGE_DENIAL_CARCS)
        if adjudication.denied and coverage:
            reasons.append(
                Reason(
                    "COVERAGE_DENIAL",
                    f"Denied for coverage (CARC {', '.join(coverage)}): appeal, not IDR.",
                )
            )
            return False
        if adjudication.denied or adjudication.paid_cents == 0:
            signals.append(
                Reason(
                    "DENIED_OR_ZERO_PAID",
                    "Denied or paid $0 on a payment "
                    "determination: still an initial payment for NSA purposes.",
                )
            )
        threshold = billed * policy.underpaid_below_billed_bps // 10_000
        if adjudication.allowed_cents < threshold:
            signals.append(
                Reason(
                    "UNDERPAID_VS_BILLED",
                    f"Allowed {adjudication.allowed_cents} "
                    f"cents is below {policy.underpaid_below_billed_bps / 100:.0f}% "
                    "of billed.",
                )
            )
        if adjudication.qpa_disclosed and adjudication.total_oon_payment_cents < (
            adjudication.qpa_cents
        ):
            signals.append(
                Reason("BELOW_QPA", "Plan payment plus cost sharing is below the disclosed QPA.")
            )
    if not signals:
        reasons.append(
            Reason(
                "NO_NEGOTIATION_SIGNAL",
                "Below the high-dollar threshold and not "
                "denied, underpaid, emergency or narrow-network.",
            )
        )
        return False
    reasons.extend(signals)
    return True


def _missing_documents(
    data: ClaimData,
    adjudication: Adjudication | None,
    documents: frozenset[DocumentKind],
) -> tuple[DocumentKind, ...]:
    """What outreach still needs before an open-negotiation notice can be sent."""
    needed = [DocumentKind.CLAIM_FORM, DocumentKind.ITEMIZED_BILL]
    if adjudication is not None and not documents & {DocumentKind.EOB, DocumentKind.ERA_835}:
        needed.append(DocumentKind.ERA_835)
    if data.emergency or (adjudication is not None and adjudication.denied):
        needed.append(DocumentKind.MEDICAL_RECORDS)
    return tuple(kind for kind in needed if kind not in documents)
