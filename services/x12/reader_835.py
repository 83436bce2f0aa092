"""Read X12 835 text into neutral `Remittance` values (one per ST..SE), refusing what cannot be
trusted (sub-cent amounts, impossible dates, missing BPR/TRN, segments outside their loop)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from services.common.money import FractionalCents, cents_from_decimal
from services.x12.envelope import Delimiters, NotX12Error, components
from services.x12.remittance_835 import (
    Adjustment,
    ClaimPayment,
    ProviderAdjustment,
    ProviderSummary,
    Remittance,
    ServiceLine,
)
from services.x12.segments import file_segments

_COMPONENT_FALLBACKS = (":", ">", "^", "|")


class RemittanceFormatError(ValueError):
    """The file is not a readable 835; `reason` says what and where."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _element(segment: list[str], index: int) -> str:
    return segment[index].strip() if index < len(segment) else ""


def _cents(segment: list[str], index: int, where: str, *, required: bool = False) -> int:
    text = _element(segment, index)
    if not text:
        if required:
            raise RemittanceFormatError(
                f"{_at(where, segment, index)}: {segment[0]}{index:02d} is required (an amount); "
                "the segment may be cut short"
            )
        return 0
    try:
        return cents_from_decimal(text)
    except FractionalCents as exc:
        raise RemittanceFormatError(
            f"{_at(where, segment, index)}: an amount has at most two decimals "
            f"({exc}); found {text!r}"
        ) from exc
    except ValueError as exc:
        raise RemittanceFormatError(
            f"{_at(where, segment, index)}: must be an amount in dollars ({exc}); found {text!r}"
        ) from exc


def _at(where: str, segment: list[str], index: int) -> str:
    """ "segment 4 (BPR)" → "segment 4 (BPR02)": the element a clerk looks for."""
    return where.replace(f"({segment[0]})", f"({segment[0]}{index:02d})")


def _date(text: str, where: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    if len(text) != 8 or not text.isdigit():
        raise RemittanceFormatError(
            f"{where}: a date is written CCYYMMDD; date {text!r} is not CCYYMMDD"
        )
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise RemittanceFormatError(
            f"{where}: date {text!r} does not exist in the calendar (CCYYMMDD)"
        ) from exc


def _components(value: str, delimiters: Delimiters) -> tuple[str, ...]:
    # Some senders use '>' inside composites although ISA16 declares ':'; accept the common ones.
    return tuple(part.strip() for part in components(value, delimiters, _COMPONENT_FALLBACKS))


def _adjustments(segment: list[str], where: str) -> list[Adjustment]:
    group = _element(segment, 1)
    found: list[Adjustment] = []
    for first in range(2, min(len(segment), 20), 3):
        reason = _element(segment, first)
        if not reason:
            continue
        found.append(
            Adjustment(
                group=group,
                reason=reason,
                amount_cents=_cents(segment, first + 1, where, required=True),
                quantity=_element(segment, first + 2),
            )
        )
    return found


class _TransactionReader:
    """Walks the segments of one ST..SE with the small amount of state the 835 loops need."""

    def __init__(self, delimiters: Delimiters, control_number: str):
        self.delimiters = delimiters
        self.header: dict[str, object] = {"control_number": control_number}
        self.claims: list[ClaimPayment] = []
        self.plb: list[ProviderAdjustment] = []
        self.claim: ClaimPayment | None = None
        self.claim_adjustments: list[Adjustment] = []
        self.lines: list[ServiceLine] = []
        self.line: ServiceLine | None = None
        self.line_adjustments: list[Adjustment] = []
        self.entity = ""  # last N1 entity code in the header (PR payer / PE payee)
        self.lx = ""  # LX01 of the current header number loop (2000)
        self.summaries: list[ProviderSummary] = []

    def _close_line(self) -> None:
        if self.line is not None:
            self.lines.append(replace(self.line, adjustments=tuple(self.line_adjustments)))
        self.line, self.line_adjustments = None, []

    def _close_claim(self) -> None:
        self._close_line()
        if self.claim is not None:
            self.claims.append(
                replace(
                    self.claim,
                    adjustments=tuple(self.claim_adjustments),
                    service_lines=tuple(self.lines),
                )
            )
        self.claim, self.claim_adjustments, self.lines = None, [], []

    def feed(self, segment: list[str], position: int) -> None:
        tag = segment[0].upper()
        where = f"segment {position} ({tag})"
        handler = getattr(self, f"_on_{tag.lower()}", None)
        if handler is not None:
            handler(segment, where)

    def _on_bpr(self, s: list[str], where: str) -> None:
        self.header.update(
            handling_code=_element(s, 1),
            total_paid_cents=_cents(s, 2, where, required=True),
            credit_debit=_element(s, 3),
            payment_method=_element(s, 4),
            payment_date=_date(_element(s, 16), _at(where, s, 16)),
        )

    def _on_trn(self, s: list[str], where: str) -> None:
        self.header.update(trace_number=_element(s, 2), payer_identifier=_element(s, 3))

    def _on_dtm(self, s: list[str], where: str) -> None:
        qualifier, value = _element(s, 1), _element(s, 2)
        if self.line is not None:
            if qualifier in ("472", "150"):
                self.line = replace(self.line, service_date=_date(value, _at(where, s, 2)))
        elif self.claim is not None:
            if qualifier == "232":
                self.claim = replace(self.claim, statement_from=_date(value, _at(where, s, 2)))
            elif qualifier == "233":
                self.claim = replace(self.claim, statement_to=_date(value, _at(where, s, 2)))
            elif qualifier == "050":
                self.claim = replace(self.claim, received_date=_date(value, _at(where, s, 2)))
        elif qualifier == "405":
            self.header["production_date"] = _date(value, _at(where, s, 2))

    def _on_n1(self, s: list[str], where: str) -> None:
        self.entity = _element(s, 1)
        qualifier, identifier = _element(s, 3), _element(s, 4)
        if self.entity == "PR":
            self.header.update(payer_name=_element(s, 2), payer_id=identifier)
        elif self.entity == "PE":
            self.header["payee_name"] = _element(s, 2)
            if qualifier == "XX":
                self.header["payee_npi"] = identifier
            elif qualifier == "FI":
                self.header["payee_tin"] = identifier

    def _on_ref(self, s: list[str], where: str) -> None:
        qualifier, value = _element(s, 1), _element(s, 2)
        if self.line is not None:
            if qualifier == "6R":
                self.line = replace(self.line, line_control_number=value)
        elif self.claim is not None:
            if qualifier == "F8":
                self.claim = replace(self.claim, original_reference=value)
        elif self.entity == "PR" and qualifier == "2U" and not self.header.get("payer_id"):
            self.header["payer_id"] = value
        elif self.entity == "PE" and qualifier == "TJ":
            self.header["payee_tin"] = value

    def _on_nm1(self, s: list[str], where: str) -> None:
        if self.claim is not None and _element(s, 1) == "82" and _element(s, 8) == "XX":
            self.claim = replace(self.claim, rendering_npi=_element(s, 9))

    def _on_amt(self, s: list[str], where: str) -> None:
        if self.claim is not None and self.line is None and _element(s, 1) == "I":
            self.claim = replace(self.claim, interest_cents=_cents(s, 2, where))

    def _on_clp(self, s: list[str], where: str) -> None:
        self._close_claim()
        self.claim = ClaimPayment(
            ordinal=len(self.claims) + 1,
            patient_control_number=_element(s, 1),
            status_code=_element(s, 2),
            charge_cents=_cents(s, 3, where, required=True),
            paid_cents=_cents(s, 4, where, required=True),
            patient_responsibility_cents=_cents(s, 5, where),
            filing_indicator=_element(s, 6),
            payer_claim_control_number=_element(s, 7),
            facility_code=_element(s, 8),
            frequency_code=_element(s, 9),
        )

    def _on_cas(self, s: list[str], where: str) -> None:
        if self.line is not None:
            self.line_adjustments.extend(_adjustments(s, where))
        elif self.claim is not None:
            self.claim_adjustments.extend(_adjustments(s, where))
        else:
            raise RemittanceFormatError(f"{where}: CAS outside a claim")

    def _on_svc(self, s: list[str], where: str) -> None:
        if self.claim is None:
            raise RemittanceFormatError(f"{where}: SVC outside a claim")
        self._close_line()
        procedure = _components(_element(s, 1), self.delimiters)
        if len(procedure) < 2 or not procedure[1]:
            raise RemittanceFormatError(
                f"{_at(where, s, 1)}: SVC01 must be one composite, qualifier and procedure code "
                f"(e.g. HC:99213); found {_element(s, 1)!r}, and SVC02 holds {_element(s, 2)!r}: "
                "the procedure code seems to stand in its own element"
            )
        self.line = ServiceLine(
            procedure=_components(_element(s, 1), self.delimiters),
            charge_cents=_cents(s, 2, where, required=True),
            paid_cents=_cents(s, 3, where, required=True),
            revenue_code=_element(s, 4),
            units_paid=_element(s, 5),
            submitted_procedure=(
                _components(_element(s, 6), self.delimiters) if _element(s, 6) else ()
            ),
        )

    def _on_lx(self, s: list[str], where: str) -> None:
        self._close_claim()
        self.lx = _element(s, 1)

    def _on_ts3(self, s: list[str], where: str) -> None:
        self.summaries.append(
            ProviderSummary(
                assigned_number=self.lx,
                provider_id=_element(s, 1),
                facility_code=_element(s, 2),
                fiscal_period_end=_date(_element(s, 3), _at(where, s, 3)),
                claim_count=int(_element(s, 4)) if _element(s, 4).isdigit() else 0,
                total_charge_cents=_cents(s, 5, where),
            )
        )

    def _on_ts2(self, s: list[str], where: str) -> None:
        if not self.summaries:
            raise RemittanceFormatError(f"{where}: TS2 must follow a TS3 provider summary")
        amounts = tuple(_cents(s, index, where) for index in range(1, 7))
        self.summaries[-1] = replace(self.summaries[-1], drg_amounts_cents=amounts)

    def _on_plb(self, s: list[str], where: str) -> None:
        self._close_claim()
        provider_id, period_end = _element(s, 1), _date(_element(s, 2), _at(where, s, 2))
        for first in range(3, min(len(s), 15), 2):
            composite = _element(s, first)
            if not composite:
                continue
            parts = _components(composite, self.delimiters)
            self.plb.append(
                ProviderAdjustment(
                    provider_id=provider_id,
                    fiscal_period_end=period_end,
                    reason=parts[0],
                    reference=parts[1] if len(parts) > 1 else "",
                    amount_cents=_cents(s, first + 1, where, required=True),
                )
            )

    def finish(self) -> Remittance:
        self._close_claim()
        if "total_paid_cents" not in self.header:
            raise RemittanceFormatError(
                "transaction has no BPR segment (the payment amount and method are required)"
            )
        if not self.header.get("trace_number"):
            raise RemittanceFormatError(
                "transaction has no TRN trace number (TRN02, the check or EFT number)"
            )
        return Remittance(
            claims=tuple(self.claims),
            provider_adjustments=tuple(self.plb),
            provider_summaries=tuple(self.summaries),
            **self.header,  # type: ignore[arg-type]
        )


def read_remittances(text: str) -> list[Remittance]:
    """Every 835 transaction of a file (one or several interchanges, each with its own
    delimiters), in file order."""
    try:
        segments = list(file_segments(text))
    except NotX12Error as exc:
        raise RemittanceFormatError(f"not an X12 interchange: {exc}") from exc
    remittances: list[Remittance] = []
    reader: _TransactionReader | None = None
    for segment in segments:
        position, fields = segment.position, segment.fields
        tag = segment.tag
        if tag == "ST":
            if reader is not None:
                raise RemittanceFormatError(f"segment {position} (ST): previous ST has no SE")
            if segment.element(1) != "835":
                raise RemittanceFormatError(
                    f"segment {position} (ST01): transaction set {segment.element(1)!r} is not "
                    "835 (a remittance advice); this file cannot be posted as payments"
                )
            reader = _TransactionReader(segment.delimiters, segment.element(2))
        elif tag == "SE":
            if reader is None:
                raise RemittanceFormatError(f"segment {position} (SE): SE without ST")
            remittances.append(reader.finish())
            reader = None
        elif reader is not None:
            reader.feed(fields, position)
    if reader is not None:
        raise RemittanceFormatError(
            "the file ends inside a transaction (no SE trailer): it may be cut short"
        )
    if not remittances:
        raise RemittanceFormatError("the interchange holds no 835 transaction set (ST*835)")
    return remittances
