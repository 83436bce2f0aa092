"""Consumers: each reader of another service's events accepts the golden message and takes the
facts the producer states (pure parts; the service-level effects are in test_consumer_services).
"""

from __future__ import annotations

import datetime as dt

import pytest

from services.claims.adapters.subscriptions import remitted_adjudication
from services.claims.domain import Adjudication
from services.common.contracts import enum_text
from services.common.phi import PhiKeys
from services.fees.adapters.subscriptions import FeeReactions
from services.fees.domain.assessment import PaymentKind
from services.ledger.adapters.mapping import facts_from_wire
from services.ledger.domain.claim_state import fold_claim
from services.ledger.domain.entry import AuditEntry
from services.ledger.domain.timeline import timeline
from services.negotiation.adapters.subscriptions import _claim_facts_fields
from services.settlement.adapters.claim_facts import claim_lines
from services.settlement.adapters.subscriptions import _terms
from services.settlement.domain import SettlementSource

from . import golden
from .producers import CLAIM_ID

PAYMENTS = [
    ("PaymentPosted", PaymentKind.PAYMENT, 100_000, 0, dt.date(2026, 10, 10), "EFT-991"),
    ("PaymentReversed", PaymentKind.REVERSAL, -100_000, 0, dt.date(2026, 10, 20), "EFT-1002"),
    ("RecoupmentPosted", PaymentKind.RECOUPMENT, -2_500, 0, dt.date(2026, 10, 25), "EFT-1003"),
    ("InterestPosted", PaymentKind.INTEREST, 0, 1_234, dt.date(2026, 10, 26), "EFT-1004"),
]


@pytest.mark.parametrize(("event_type", "kind", "cash", "interest", "day", "trn"), PAYMENTS)
def test_fees_takes_each_settlement_money_fact_as_stated(
        event_type: str, kind: PaymentKind, cash: int, interest: int, day: dt.date,
        trn: str) -> None:
    fact = FeeReactions.payment_fact(golden.delivery("settlement", event_type))
    assert fact is not None
    assert (fact.kind, fact.amount_cents, fact.interest_cents, fact.posting_date,
            fact.remittance_trn) == (kind, cash, interest, day, trn)
    # The deposit and the claim's identifiers, as settlement published them (issue 16).
    message = golden.delivery("settlement", event_type).message
    refs = fact.references
    assert refs is not None and refs.deposit_date == day
    named = ("plb_reference" if kind in (PaymentKind.RECOUPMENT, PaymentKind.INTEREST)
             else "payer_claim_control_number")
    assert getattr(refs, f"{named}_index") == getattr(message, f"{named}_index") != ""
    assert getattr(refs, f"{named}_sealed") == getattr(message, f"{named}_sealed") != ""


def test_negotiation_learns_the_claim_from_the_golden_registration() -> None:
    registered = golden.delivery("claims", "ClaimRegistered").message
    assert _claim_facts_fields(CLAIM_ID, registered.claim) == {  # type: ignore[attr-defined]
        "claim_id": CLAIM_ID, "provider_npi": "1234567893", "provider_tin": "123456789",
        "payer_id": "87726", "plan_id": "87726:Choice Plus", "plan_funding": "self_funded_erisa",
        "service_code": "99285", "service_date": dt.date(2026, 3, 2), "billed_cents": 265_000,
        "line_count": 2}  # the golden claim's two service lines


def test_negotiation_reads_the_triage_route() -> None:
    triaged = golden.delivery("claims", "ClaimTriaged").message
    assert enum_text(type(triaged).Route.DESCRIPTOR, triaged.route) == "federal_idr"  # type: ignore[attr-defined]


def test_settlement_opens_on_negotiations_facts_and_does_not_recompute_the_due_date() -> None:
    agreed = golden.delivery("negotiation", "SettlementAgreed").message
    terms = _terms(agreed, None)  # type: ignore[arg-type]
    assert (terms.source, terms.source_ref, terms.decided_on, terms.due_date,
            terms.agreed_total_cents, terms.patient_cost_sharing_cents,
            terms.already_paid_cents) == (
        SettlementSource.AGREEMENT, "DISP-000123", dt.date(2026, 10, 1), dt.date(2026, 10, 31),
        120_000, 15_000, 45_000)
    # The due date is the one negotiation stated, whatever it is: settlement has no rule of its own.
    later = golden.load("negotiation", "SettlementAgreed") | {"payment_due_on": "2026-11-30"}
    moved = golden.delivery("negotiation", "SettlementAgreed", fields=later).message
    assert _terms(moved, None).due_date == dt.date(2026, 11, 30)  # type: ignore[arg-type]


def test_settlement_opens_on_the_idr_award() -> None:
    determined = golden.delivery("negotiation", "IdrDetermined").message
    terms = _terms(determined, None)  # type: ignore[arg-type]
    assert (terms.source, terms.decided_on, terms.due_date, terms.agreed_total_cents) == (
        SettlementSource.IDR_DETERMINATION, dt.date(2026, 9, 15), dt.date(2026, 10, 15), 160_000)


def test_settlement_matches_remittances_against_the_golden_claim_lines() -> None:
    registered = golden.delivery("claims", "ClaimRegistered").message
    lines = claim_lines(registered.claim.lines)  # type: ignore[attr-defined]
    assert [(x["number"], x["line_control_number"], x["procedure_code"], x["charge_cents"])
            for x in lines] == [(1, "L1", "99285", 250_000), (2, "L2", "93010", 15_000)]


# Events of no claim's chain (an 835 file and its transactions name no claim): the ledger keeps
# them, no claim's fold ever sees them.
NOT_ON_A_CLAIM_CHAIN = {
    ("settlement", "RemittanceFileReceived"), ("settlement", "RemittanceFileAccepted"),
    ("settlement", "RemittanceFileQuarantined"), ("settlement", "RemittanceImported"),
    ("settlement", "RemittanceChunkPosted"),
    # A client's policy and the cooling-off registers belong to no claim.
    ("negotiation", "PolicyStarted"), ("negotiation", "PolicySet"),
    ("negotiation", "RegisterOpened"), ("negotiation", "PeriodRecorded"),
}


def test_the_ledger_folds_every_golden_event_from_its_contract_bytes() -> None:
    entries = []
    on_chains = [(s, e, v) for s, e, v in sorted(golden.golden_files())
                 if (s, e) not in NOT_ON_A_CLAIM_CHAIN]
    for seq, (service, event_type, version) in enumerate(on_chains, 1):
        envelope = golden.envelope(service, event_type, version)
        facts = facts_from_wire(envelope.SerializeToString())
        assert facts.payload == envelope.payload  # the exact bytes received are what is kept
        entries.append(AuditEntry(facts, seq, CLAIM_ID, seq, b"", b""))
    state = fold_claim(CLAIM_ID, entries, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert state.unfolded == []
    assert state.billed_amount_cents == 265_000
    assert state.initial_payment_cents == 45_000
    assert [(p.label, p.amount_cents) for p in state.payments] == [
        ("appeal appeal-1", 12_000), ("int-1", 1_234), ("pay-1", 100_000), ("pay-1", -100_000),
        ("wo-1", -2_500)]
    assert [f.amount_cents for f in state.fees] == [25_000, 71_500]
    assert [(o.party, o.amount_cents) for o in state.offers] == [
        ("payer", 120_000), ("provider (IDR)", 160_000), ("provider", 180_000)]
    assert {name: d.due_date for name, d in state.deadlines.items()} == {
        "open_negotiation_started": "2026-04-10", "T3": "2026-05-28", "T6": "2026-07-20",
        "cooling_off_ends": "2026-12-15", "payment_due": "2026-10-15",
        "idre_fee_refund_due": "2026-10-27", "settlement_report_due": "2026-10-06"}
    assert all("bytes" not in line for line in timeline(entries))


class _NegotiationApp:
    """What ClaimReactions reads of the negotiation application: its aggregates, the engine."""

    def __init__(self) -> None:
        from services.common.calendar import federal_calendar
        from services.negotiation.domain.deadlines import DeadlineEngine

        self.engine = DeadlineEngine(federal_calendar())
        self.saved: dict[object, object] = {}

    def find(self, aggregate_id: object, tenant_id: str, cls: type) -> object:
        found = self.saved.get(aggregate_id)
        return found if isinstance(found, cls) else None


def _react(app: _NegotiationApp, event_type: str, **fields: object) -> list[object]:
    from services.negotiation.adapters.subscriptions import ClaimReactions

    payload = golden.load("claims", event_type) | fields
    out = ClaimReactions(app)(golden.delivery("claims", event_type, fields=payload))  # type: ignore[arg-type]
    for aggregate in out:
        if aggregate is not None:
            app.saved[aggregate.id] = aggregate  # type: ignore[attr-defined]
    return out


def test_negotiation_opens_only_when_triage_says_worth_it_and_refuses_in_the_open() -> None:
    from services.negotiation.domain import ClaimFacts

    app = _NegotiationApp()
    _react(app, "ClaimRegistered")
    adjudication = golden.load("claims", "AdjudicationRecorded")["adjudication"]
    _react(app, "AdjudicationRecorded", adjudication=adjudication | {"qpa_cents": 0})
    # A federal route alone opens nothing: claims' triage decided it is not worth negotiating.
    assert _react(app, "ClaimTriaged", worth_negotiating=False) == [None]
    (facts,) = _react(app, "ClaimTriaged", worth_negotiating=True)
    assert isinstance(facts, ClaimFacts)  # no QPA: refused, and said so in an event
    (refused,) = [e for e in facts.collect_events() if type(e).__name__ == "NegotiationRefused"]
    assert "qpa_cents" in refused.reason and refused.fields == ["qpa_cents"]
    # T1: 30 business days beginning on the initial payment (2026-04-01), negotiation's rule.
    assert refused.notice_due_on == dt.date(2026, 5, 12) and refused.rule_set_version


def test_claims_records_negotiations_refusal_with_its_deadline() -> None:
    from services.claims.adapters.subscriptions import NEGOTIATION_STAGES, ClaimStageReactions

    seen: list[object] = []

    class _ClaimsApp:
        def record_negotiation_refusal(self, ctx: object, command: object) -> object:
            seen.append(command)
            return command

    reactions = ClaimStageReactions(_ClaimsApp(), NEGOTIATION_STAGES)  # type: ignore[arg-type]
    reactions(golden.delivery("negotiation", "NegotiationRefused"))
    (command,) = seen
    assert (command.reason, command.notice_due_on, command.rule_set_version) == (  # type: ignore[attr-defined]
        "qpa_cents: must be positive", "2026-05-12", "nsa-2026.1")


def test_claims_takes_the_remitted_initial_adjudication_as_stated() -> None:
    """The golden InitialAdjudicationRemitted is the claim's Adjudication, the ICN unsealed."""
    remitted = golden.delivery("settlement", "InitialAdjudicationRemitted").message
    keys = PhiKeys.from_env({}, dev_mode=True)
    adjudication = remitted_adjudication(remitted, keys)  # type: ignore[arg-type]
    assert adjudication == Adjudication(
        received_date=dt.date(2026, 4, 1), billed_cents=265_000, allowed_cents=60_000,
        paid_cents=45_000, patient_responsibility_cents=15_000, carc_codes=("45", "2"),
        rarc_codes=(), payer_claim_control_number="ICN-77", denied=False)
