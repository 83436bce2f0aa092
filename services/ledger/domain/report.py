"""The audit report of one claim, as data (pure): what report_html.py and report_pdf.py print.

Built from the claim's entries (the timeline and the as-of fold of claim_state.py) and the
verification of its chain, so the report states what was done, by whom, when, and whether the
record of it is proven in a signed checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.common.contracts import ContractViolation
from services.common.money import format_usd
from services.ledger.domain.claim_state import ClaimState, DeadlineItem, fold_claim
from services.ledger.domain.entry import AuditEntry
from services.ledger.domain.moments import EASTERN
from services.ledger.domain.timeline import PENDING_MARK, describe_facts, entry_marks, payload_of

DECISION_EVENTS = ("DecisionProposed", "DecisionApproved", "DecisionRejected")
# Which event completes a deadline (met when it occurred on or before the due date, Eastern).
COMPLETED_BY: Mapping[str, tuple[str, ...]] = {
    "payment_due": ("SettlementPaidInFull",),
}
MISSED_BY: Mapping[str, tuple[str, ...]] = {
    "payment_due": ("SettlementOverdue",),
}
# Dates the fold keeps with the deadlines that start a period rather than end one.
PERIOD_STARTS = frozenset({"open_negotiation_started"})


@dataclass(frozen=True)
class Verification:
    """The verdict the report rests on (from VerifyClaim, or the service's own verification)."""

    status: str  # VERIFIED, PENDING or BROKEN
    entries_checked: int
    entries_anchored: int
    entries_pending: int
    checkpoint_size: int | None
    checkpoint_root: bytes
    checkpoint_issued_at: datetime | None
    key_id: str
    breaks: Sequence[tuple[int, str, str]]
    """(log index, kind, description) of every entry that does not hold."""
    log_problems: Sequence[str]


@dataclass(frozen=True)
class OfferRow:
    at: datetime
    party: str
    amount: str
    pct_of_qpa: str
    by: str
    event_type: str


@dataclass(frozen=True)
class DecisionRow:
    decision_id: str
    action: str
    proposed_at: datetime | None
    proposed_by: str
    rationale: str
    outcome: str  # "approved", "rejected", "proposed (no answer yet)"
    decided_at: datetime | None
    decided_by: str


@dataclass(frozen=True)
class DeadlineRow:
    name: str
    due_date: str
    outcome: str


@dataclass(frozen=True)
class MoneyRow:
    at: datetime
    label: str
    amount: str
    event_type: str


@dataclass(frozen=True)
class TimelineRow:
    at: datetime
    seq: int
    service: str
    event_type: str
    by: str
    details: str
    hash_prefix: str
    mark: str  # "" when the entry is proven; PENDING; or the break kinds


@dataclass(frozen=True)
class ClaimReport:
    claim_id: str
    tenant_id: str
    as_of: datetime
    summary: Sequence[tuple[str, str]]
    offers: Sequence[OfferRow]
    decisions: Sequence[DecisionRow]
    deadlines: Sequence[DeadlineRow]
    payments: Sequence[MoneyRow]
    fees: Sequence[MoneyRow]
    timeline: Sequence[TimelineRow]
    verification: Verification
    unfolded: Sequence[str]

    @property
    def file_stem(self) -> str:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.claim_id)
        return f"audit-report-{safe}"

    def verdict_line(self) -> str:
        v = self.verification
        if v.checkpoint_size is None:
            anchor = "no signed checkpoint yet"
        else:
            issued = f", signed {v.checkpoint_issued_at:%Y-%m-%d %H:%M:%SZ}" if (
                v.checkpoint_issued_at
            ) else ""
            anchor = (
                f"checkpoint of size {v.checkpoint_size}, root {v.checkpoint_root.hex()[:16]}…, "
                f"key {v.key_id}{issued}"
            )
        return (
            f"{v.status}: {v.entries_checked} entries checked, {v.entries_anchored} proven in the "
            f"{anchor}; {v.entries_pending} pending; {len(v.breaks)} broken"
        )


def pct_of_qpa(amount_cents: int, qpa_cents: int) -> str:
    """Percent of the QPA to one decimal, rounded half up, in integers (no floats)."""
    if qpa_cents <= 0:
        return "n/a (no QPA)"
    tenths = (amount_cents * 1000 * 2 + qpa_cents) // (2 * qpa_cents)
    sign = "-" if tenths < 0 else ""
    tenths = abs(tenths)
    return f"{sign}{tenths // 10}.{tenths % 10}%"


def build_report(
    claim_id: str,
    entries: Sequence[AuditEntry],
    verification: Verification,
    as_of: datetime,
) -> ClaimReport:
    state = fold_claim(claim_id, entries, as_of)
    shown = [e for e in entries if e.facts.occurred_at <= as_of]
    marks = entry_marks(
        shown, [(index, kind) for index, kind, _ in verification.breaks],
        verification.checkpoint_size,
    )
    return ClaimReport(
        claim_id=claim_id,
        tenant_id=entries[0].facts.tenant_id if entries else "",
        as_of=as_of,
        summary=_summary(state),
        offers=[
            OfferRow(
                o.source.at, o.party, format_usd(o.amount_cents),
                pct_of_qpa(o.amount_cents, state.qpa_cents), o.source.actor or "-",
                o.source.event_type,
            )
            for o in state.offers
        ],
        decisions=_decisions(shown),
        deadlines=[_deadline(d, shown, as_of) for d in state.deadlines.values()],
        payments=[
            MoneyRow(p.source.at, p.label, format_usd(p.amount_cents), p.source.event_type)
            for p in state.payments
        ],
        fees=[
            MoneyRow(f.source.at, f.label, format_usd(f.amount_cents), f.source.event_type)
            for f in state.fees
        ],
        timeline=[
            TimelineRow(
                e.facts.occurred_at, e.chain_seq, e.facts.service, e.facts.event_type,
                e.facts.actor or "-", describe_facts(e.facts),
                e.entry_hash.hex()[:12],
                "" if (m := marks.get(e.log_index)) is None else m,
            )
            for e in shown
        ],
        verification=verification,
        unfolded=[
            f"{e.facts.event_type} ({e.facts.service}, {e.facts.event_id})" for e in state.unfolded
        ],
    )


def _summary(state: ClaimState) -> list[tuple[str, str]]:
    agreed = (
        f"{format_usd(state.agreed_amount_cents)} via {state.agreed_via} "
        f"({pct_of_qpa(state.agreed_amount_cents, state.qpa_cents)} of QPA)"
        if state.agreed
        else "not agreed"
    )
    return [
        ("Status", state.status or "-"),
        ("Billed", format_usd(state.billed_amount_cents)),
        ("QPA", format_usd(state.qpa_cents) if state.qpa_cents else "not recorded"),
        ("Initial payment", format_usd(state.initial_payment_cents)),
        ("Agreed", agreed),
        ("Paid in total", format_usd(state.paid_total_cents)),
        ("Fees in total", format_usd(state.fees_total_cents)),
        ("Events", f"{state.events_applied} folded, {len(state.unfolded)} not interpreted"),
        *_compliance(state),
    ]


def _compliance(state: ClaimState) -> list[tuple[str, str]]:
    """The compliance report negotiation stated after the latest act (never recomputed)."""
    if state.compliance is None:
        return [("Compliance", "no report stated yet")]
    view = state.compliance.view
    rows = [("Compliance", f"as stated after {view.source_event_type} on {view.as_of}; rule "
                           f"set {view.rule_set_version}; calendar {view.calendar}")]
    for line in view.lines:
        if line.status == "not_applicable":
            continue
        late = f", {line.days_late} {line.counting} days late" if line.days_late else ""
        act = f"done {line.act_on} (day {line.day_number})" if line.act_on else "not done"
        rows.append((f"{line.code} {line.title}",
                     f"{line.status}: due {line.due_on or '-'}, {act}{late}"))
    return rows


def _payload(entry: AuditEntry) -> dict[str, Any]:
    """The entry's payload as a dict (canonical JSON or its contract message's dict view)."""
    try:
        document = payload_of(entry.facts)
    except (ValueError, ContractViolation):
        return {}
    return document if isinstance(document, dict) else {}


def _decisions(entries: Sequence[AuditEntry]) -> list[DecisionRow]:
    rows: dict[str, DecisionRow] = {}
    for entry in entries:
        kind = entry.facts.event_type
        if kind not in DECISION_EVENTS:
            continue
        p = _payload(entry)
        decision_id = str(p.get("decision_id", "")) or entry.facts.event_id
        row = rows.get(decision_id) or DecisionRow(
            decision_id=decision_id, action="", proposed_at=None, proposed_by="",
            rationale="", outcome="proposed (no answer yet)", decided_at=None, decided_by="",
        )
        if kind == "DecisionProposed":
            row = replace(row, action=str(p.get("action", "")),
                          proposed_at=entry.facts.occurred_at, proposed_by=entry.facts.actor,
                          rationale=str(p.get("rationale", "")))
        elif kind == "DecisionApproved":
            rule = str(p.get("auto_approval_rule_id", ""))
            by = str(p.get("approved_by", "")) or entry.facts.actor
            row = replace(row, outcome="approved", decided_at=entry.facts.occurred_at,
                          decided_by=f"auto-approval rule {rule}" if rule else by)
        else:
            reason = str(p.get("reason", ""))
            row = replace(row, outcome=f"rejected{': ' + reason if reason else ''}",
                          decided_at=entry.facts.occurred_at,
                          decided_by=str(p.get("rejected_by", "")) or entry.facts.actor)
        rows[decision_id] = row
    return list(rows.values())


def _eastern_day(moment: datetime) -> str:
    return moment.astimezone(EASTERN).date().isoformat()


def _deadline(item: DeadlineItem, entries: Sequence[AuditEntry], as_of: datetime) -> DeadlineRow:
    due = item.due_date
    if item.name in PERIOD_STARTS:
        return DeadlineRow(item.name, due, "a period starts on this date (not a deadline)")
    done = [e for e in entries if e.facts.event_type in COMPLETED_BY.get(item.name, ())]
    missed = [e for e in entries if e.facts.event_type in MISSED_BY.get(item.name, ())]
    if done:
        day = _eastern_day(done[0].facts.occurred_at)
        outcome = f"met on {day}" if day <= due else f"missed: completed on {day}"
    elif missed:
        first = missed[0].facts
        outcome = f"missed: {first.event_type} on {_eastern_day(first.occurred_at)}"
    elif _eastern_day(as_of) <= due:
        outcome = "open (not yet due)"
    elif item.name in COMPLETED_BY:
        outcome = "missed: not completed by the due date"
    else:
        outcome = "passed (the ledger records no completing event for this deadline)"
    return DeadlineRow(item.name, due, outcome)


def mark_label(mark: str) -> str:
    if not mark:
        return "proven"
    return "pending" if mark == PENDING_MARK else f"BROKEN: {mark}"
