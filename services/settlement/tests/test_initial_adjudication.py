"""The payer's first 835 for a claim that has no settlement and no recorded adjudication is the
claim's initial adjudication, not an exception (pure posting; issue 15 item 5)."""

from __future__ import annotations

from datetime import date

from services.settlement.adapters.x12 import read_remittances
from services.settlement.domain import (
    ClaimIndex,
    ClaimReference,
    InitialAdjudication,
    RemittedAdjudication,
    initial_adjudication_id_for,
    match_remittance,
    post_remittance,
)
from services.x12.writer_835 import ClaimSpec, RemittanceSpec, build_835

from .builders import ctx
from .scenario import PAYEE_NPI

DOS = date(2026, 10, 3)
PAID_ON = date(2026, 10, 30)


def _index(*, adjudicated: bool = False) -> ClaimIndex:
    return ClaimIndex.build([
        ClaimReference("claim-1", "PCN-1", billing_npi=PAYEE_NPI, first_service_date=DOS,
                       charge_cents=249_000, adjudicated=adjudicated),
    ])


def _clp(paid: int = 45_000, patient: int = 15_000, status: str = "1",
         icn: str = "ICN-1") -> ClaimSpec:
    return ClaimSpec("PCN-1", 249_000, paid, DOS, patient_responsibility_cents=patient,
                     status_code=status, payer_claim_control_number=icn)


def _post(*claims: ClaimSpec, index: ClaimIndex | None = None,
          remitted: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    index = index or _index()
    (remittance,) = read_remittances(build_835(RemittanceSpec("TRN-1", PAID_ON, claims)))
    matches = match_remittance(remittance, index)
    return remittance, post_remittance(ctx(), remittance, "rem-1", index, matches, {}, remitted)


def test_an_initial_payment_is_the_claims_initial_adjudication() -> None:
    _, outcome = _post(_clp())
    assert outcome.exceptions == [] and outcome.remittance_journal == []
    assert outcome.initial_adjudications == [RemittedAdjudication(
        claim_id="claim-1", ordinal=1, status_code="1", received_date=PAID_ON,
        billed_cents=249_000, allowed_cents=60_000, paid_cents=45_000,
        patient_responsibility_cents=15_000, payer_claim_control_number="ICN-1",
        carc_codes=("45", "2"), rarc_codes=(), denied=False)]
    assert outcome.matched[1].claim_id == "claim-1"


def test_an_initial_denial_is_a_denied_adjudication() -> None:
    _, outcome = _post(_clp(paid=0, patient=0, status="4"))
    (denial,) = outcome.initial_adjudications
    assert (denial.denied, denial.paid_cents, denial.allowed_cents, denial.carc_codes) == (
        True, 0, 0, ("45",))
    assert outcome.exceptions == []


def test_a_second_clp_for_the_claim_is_an_exception_as_before() -> None:
    # In the same file, and in a later file once the first was remitted.
    _, outcome = _post(_clp(), _clp(paid=20_000, patient=0, icn="ICN-2"))
    assert [a.ordinal for a in outcome.initial_adjudications] == [1]
    (second,) = outcome.exceptions
    assert (second.ordinal, second.reason, second.candidate_claim_id) == (
        2, "no settlement is open for the matched claim", "claim-1")
    _, later = _post(_clp(paid=20_000, patient=0, icn="ICN-2"), remitted=frozenset({"claim-1"}))
    assert later.initial_adjudications == []
    assert [e.reason for e in later.exceptions] == ["no settlement is open for the matched claim"]


def test_a_claim_adjudicated_already_keeps_its_adjudication() -> None:
    _, outcome = _post(_clp(), index=_index(adjudicated=True))
    assert outcome.initial_adjudications == []
    assert [e.candidate_claim_id for e in outcome.exceptions] == ["claim-1"]
    assert outcome.remittance_journal[0].postings[1].amount_cents == -45_000  # unapplied cash


def test_a_reversal_or_a_secondary_payment_is_never_an_initial_adjudication() -> None:
    for clp in (_clp().reversed(), _clp(status="2")):
        _, outcome = _post(clp)
        assert outcome.initial_adjudications == [], clp.status_code
        assert len(outcome.exceptions) == 1


def test_the_remitted_adjudication_is_one_aggregate_per_claim() -> None:
    remittance, outcome = _post(_clp())
    (facts,) = outcome.initial_adjudications
    recorded = InitialAdjudication.record(ctx(), remittance_id="rem-1", remittance=remittance,
                                          facts=facts)
    assert recorded.id == initial_adjudication_id_for(ctx().tenant_id, "claim-1")
    (event,) = recorded.collect_events()
    assert isinstance(event, InitialAdjudication.InitialAdjudicationRemitted)
    assert (event.claim_id, event.received_date, event.trace_number,
            event.payer_claim_control_number, event.carc_codes) == (
        "claim-1", PAID_ON, "TRN-1", "ICN-1", ["45", "2"])
