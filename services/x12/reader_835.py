"""Read X12 835 text into neutral `Remittance` values (one per ST..SE), refusing what cannot be
trusted (sub-cent amounts, impossible dates, missing BPR/TRN, segments outside their loop)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

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
from services.x12.segments import raw_segments

_COMPONENT_FALLBACKS = (":", ">", "^", "|")


class RemittanceFormatError(ValueError):
    """The file is not a readable 835; `reason` says what and where."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _element(segment: list[str], index: int) -> str:
    return segment[index].strip() if index < len(segment) else ""


# Where a finding points: "segment 4 (BPR)", or with an element "segment 4 (BPR02)". Built only
# when something is wrong (a 10,000-claim file has about 90,000 segments and no finding).
def _where(segment: list[str], position: int) -> str:
    return f"segment {position} ({segment[0].upper()})"


def _at(segment: list[str], position: int, index: int) -> str:
    return f"segment {position} ({segment[0].upper()}{index:02d})"


# The usual form of an amount ("1234", "-12.5", "0.07"): read without Decimal. Anything else
# (".5", "+5", "1.500", "1E2", an amount that is not one) takes cents_from_decimal's full path.
_PLAIN_AMOUNT = re.compile(r"(-?)([0-9]{1,16})(?:\.([0-9]{1,2}))?")


def _cents(segment: list[str], index: int, position: int, *, required: bool = False) -> int:
    text = _element(segment, index)
    plain = _PLAIN_AMOUNT.fullmatch(text)
    if plain is not None:
        sign, dollars, fraction = plain.groups()
        cents = int(dollars) * 100 + (int(fraction.ljust(2, "0")) if fraction else 0)
        return -cents if sign else cents
    if not text:
        if required:
            raise RemittanceFormatError(
                f"{_at(segment, position, index)}: {segment[0]}{index:02d} is required (an "
                "amount); the segment may be cut short"
            )
        return 0
    try:
        return cents_from_decimal(text)
    except FractionalCents as exc:
        raise RemittanceFormatError(
            f"{_at(segment, position, index)}: an amount has at most two decimals "
            f"({exc}); found {text!r}"
        ) from exc
    except ValueError as exc:
        raise RemittanceFormatError(
            f"{_at(segment, position, index)}: must be an amount in dollars ({exc}); "
            f"found {text!r}"
        ) from exc


def _date(segment: list[str], index: int, position: int) -> date | None:
    text = _element(segment, index)
    if not text:
        return None
    if len(text) != 8 or not text.isdigit():
        raise RemittanceFormatError(
            f"{_at(segment, position, index)}: a date is written CCYYMMDD; date {text!r} is "
            "not CCYYMMDD"
        )
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise RemittanceFormatError(
            f"{_at(segment, position, index)}: date {text!r} does not exist in the calendar "
            "(CCYYMMDD)"
        ) from exc


def _components(value: str, delimiters: Delimiters) -> tuple[str, ...]:
    # Some senders use '>' inside composites although ISA16 declares ':'; accept the common ones.
    return tuple(part.strip() for part in components(value, delimiters, _COMPONENT_FALLBACKS))


def _adjustments(segment: list[str], position: int) -> list[Adjustment]:
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
                amount_cents=_cents(segment, first + 1, position, required=True),
                quantity=_element(segment, first + 2),
            )
        )
    return found


class _TransactionReader:
    """Walks the segments of one ST..SE with the small amount of state the 835 loops need.

    The open claim and service line are kept as the keyword arguments of their values (dicts),
    and each value is built once when its loop closes."""

    def __init__(self, delimiters: Delimiters, control_number: str):
        self.delimiters = delimiters
        self.header: dict[str, object] = {"control_number": control_number}
        self.claims: list[ClaimPayment] = []
        self.plb: list[ProviderAdjustment] = []
        self.claim: dict[str, Any] | None = None
        self.claim_adjustments: list[Adjustment] = []
        self.lines: list[ServiceLine] = []
        self.line: dict[str, Any] | None = None
        self.line_adjustments: list[Adjustment] = []
        self.entity = ""  # last N1 entity code in the header (PR payer / PE payee)
        self.lx = ""  # LX01 of the current header number loop (2000)
        self.summaries: list[ProviderSummary] = []

    def _close_line(self) -> None:
        if self.line is not None:
            self.lines.append(ServiceLine(**self.line, adjustments=tuple(self.line_adjustments)))
        self.line, self.line_adjustments = None, []

    def _close_claim(self) -> None:
        self._close_line()
        if self.claim is not None:
            self.claims.append(ClaimPayment(
                **self.claim, adjustments=tuple(self.claim_adjustments),
                service_lines=tuple(self.lines)))
        self.claim, self.claim_adjustments, self.lines = None, [], []

    def _on_bpr(self, s: list[str], at: int) -> None:
        self.header.update(
            handling_code=_element(s, 1),
            total_paid_cents=_cents(s, 2, at, required=True),
            credit_debit=_element(s, 3),
            payment_method=_element(s, 4),
            payment_date=_date(s, 16, at),
        )

    def _on_trn(self, s: list[str], at: int) -> None:
        self.header.update(trace_number=_element(s, 2), payer_identifier=_element(s, 3))

    def _on_dtm(self, s: list[str], at: int) -> None:
        qualifier = _element(s, 1)
        if self.line is not None:
            if qualifier in ("472", "150"):
                self.line["service_date"] = _date(s, 2, at)
        elif self.claim is not None:
            name = _CLAIM_DATES.get(qualifier)
            if name is not None:
                self.claim[name] = _date(s, 2, at)
        elif qualifier == "405":
            self.header["production_date"] = _date(s, 2, at)

    def _on_n1(self, s: list[str], at: int) -> None:
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

    def _on_ref(self, s: list[str], at: int) -> None:
        qualifier, value = _element(s, 1), _element(s, 2)
        if self.line is not None:
            if qualifier == "6R":
                self.line["line_control_number"] = value
        elif self.claim is not None:
            if qualifier == "F8":
                self.claim["original_reference"] = value
        elif self.entity == "PR" and qualifier == "2U" and not self.header.get("payer_id"):
            self.header["payer_id"] = value
        elif self.entity == "PE" and qualifier == "TJ":
            self.header["payee_tin"] = value

    def _on_nm1(self, s: list[str], at: int) -> None:
        if self.claim is not None and _element(s, 1) == "82" and _element(s, 8) == "XX":
            self.claim["rendering_npi"] = _element(s, 9)

    def _on_amt(self, s: list[str], at: int) -> None:
        if self.claim is not None and self.line is None and _element(s, 1) == "I":
            self.claim["interest_cents"] = _cents(s, 2, at)

    def _on_clp(self, s: list[str], at: int) -> None:
        self._close_claim()
        self.claim = {
            "ordinal": len(self.claims) + 1,
            "patient_control_number": _element(s, 1),
            "status_code": _element(s, 2),
            "charge_cents": _cents(s, 3, at, required=True),
            "paid_cents": _cents(s, 4, at, required=True),
            "patient_responsibility_cents": _cents(s, 5, at),
            "filing_indicator": _element(s, 6),
            "payer_claim_control_number": _element(s, 7),
            "facility_code": _element(s, 8),
            "frequency_code": _element(s, 9),
        }

    def _on_cas(self, s: list[str], at: int) -> None:
        if self.line is not None:
            self.line_adjustments.extend(_adjustments(s, at))
        elif self.claim is not None:
            self.claim_adjustments.extend(_adjustments(s, at))
        else:
            raise RemittanceFormatError(f"{_where(s, at)}: CAS outside a claim")

    def _on_svc(self, s: list[str], at: int) -> None:
        if self.claim is None:
            raise RemittanceFormatError(f"{_where(s, at)}: SVC outside a claim")
        self._close_line()
        procedure = _components(_element(s, 1), self.delimiters)
        if len(procedure) < 2 or not procedure[1]:
            raise RemittanceFormatError(
                f"{_at(s, at, 1)}: SVC01 must be one composite, qualifier and procedure code "
                f"(e.g. HC:99213); found {_element(s, 1)!r}, and SVC02 holds {_element(s, 2)!r}: "
                "the procedure code seems to stand in its own element"
            )
        submitted = _element(s, 6)
        self.line = {
            "procedure": procedure,
            "charge_cents": _cents(s, 2, at, required=True),
            "paid_cents": _cents(s, 3, at, required=True),
            "revenue_code": _element(s, 4),
            "units_paid": _element(s, 5),
            "submitted_procedure": _components(submitted, self.delimiters) if submitted else (),
        }

    def _on_lx(self, s: list[str], at: int) -> None:
        self._close_claim()
        self.lx = _element(s, 1)

    def _on_ts3(self, s: list[str], at: int) -> None:
        self.summaries.append(
            ProviderSummary(
                assigned_number=self.lx,
                provider_id=_element(s, 1),
                facility_code=_element(s, 2),
                fiscal_period_end=_date(s, 3, at),
                claim_count=int(_element(s, 4)) if _element(s, 4).isdigit() else 0,
                total_charge_cents=_cents(s, 5, at),
            )
        )

    def _on_ts2(self, s: list[str], at: int) -> None:
        if not self.summaries:
            raise RemittanceFormatError(f"{_where(s, at)}: TS2 must follow a TS3 provider summary")
        amounts = tuple(_cents(s, index, at) for index in range(1, 7))
        self.summaries[-1] = replace(self.summaries[-1], drg_amounts_cents=amounts)

    def _on_plb(self, s: list[str], at: int) -> None:
        self._close_claim()
        provider_id, period_end = _element(s, 1), _date(s, 2, at)
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
                    amount_cents=_cents(s, first + 1, at, required=True),
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


# The claim dates (2100 DTM) by qualifier: statement period from/to, claim received.
_CLAIM_DATES = {"232": "statement_from", "233": "statement_to", "050": "received_date"}
# The segments the reader acts on, by tag (an unknown tag is skipped, as before).
_HANDLERS: dict[str, Callable[[_TransactionReader, list[str], int], None]] = {
    name.removeprefix("_on_").upper(): handler
    for name, handler in vars(_TransactionReader).items()
    if name.startswith("_on_")
}


def read_remittances(text: str) -> list[Remittance]:
    """Every 835 transaction of a file (one or several interchanges, each with its own
    delimiters), in file order."""
    try:
        segments = list(raw_segments(text))
    except NotX12Error as exc:
        raise RemittanceFormatError(f"not an X12 interchange: {exc}") from exc
    remittances: list[Remittance] = []
    reader: _TransactionReader | None = None
    for position, fields, delimiters, tag in segments:
        if tag == "ST":
            if reader is not None:
                raise RemittanceFormatError(f"segment {position} (ST): previous ST has no SE")
            if _element(fields, 1) != "835":
                raise RemittanceFormatError(
                    f"segment {position} (ST01): transaction set {_element(fields, 1)!r} is "
                    "not 835 (a remittance advice); this file cannot be posted as payments"
                )
            reader = _TransactionReader(delimiters, _element(fields, 2))
        elif tag == "SE":
            if reader is None:
                raise RemittanceFormatError(f"segment {position} (SE): SE without ST")
            remittances.append(reader.finish())
            reader = None
        elif reader is not None:
            handler = _HANDLERS.get(tag)
            if handler is not None:
                handler(reader, fields, position)
    if reader is not None:
        raise RemittanceFormatError(
            "the file ends inside a transaction (no SE trailer): it may be cut short"
        )
    if not remittances:
        raise RemittanceFormatError("the interchange holds no 835 transaction set (ST*835)")
    return remittances
