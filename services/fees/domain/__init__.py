"""The fees domain (pure: no I/O): what the rest of the service may use.

- `schedule`: a client's fee terms, versioned by effective date; the FeeSchedule aggregate.
- `arithmetic`: the fee rule and the exact money arithmetic behind it (the one home of both).
- `assessment`: a payment's or IDR fee's effect on a claim's fee account; fee lines.
- `fee_account`: the FeeAccount aggregate (one per claim; the exactly-once guard).
- `invoicing`: closing a client's period into an immutable invoice; the ClientBilling aggregate.
- `roi`: return on investment per client, payer and service code.
"""

from services.fees.domain.arithmetic import FeeComputation
from services.fees.domain.assessment import (
    AccountState,
    FeeCause,
    FeeLine,
    FeeLineKind,
    IdrFeeFact,
    LineRecord,
    LineReferences,
    PaymentFact,
    PaymentKind,
    assess_payment,
    line_from_record,
    line_to_record,
)
from services.fees.domain.fee_account import FeeAccount, account_id_for
from services.fees.domain.invoicing import (
    ClientBilling,
    EraTotal,
    Invoice,
    billing_id_for,
    era_totals,
    validate_period,
)
from services.fees.domain.roi import RoiEntry, RoiFigures, RoiReport, roi_report
from services.fees.domain.schedule import (
    FeeBase,
    FeeSchedule,
    FeeTerms,
    ResolutionStage,
    ScheduleVersion,
    Tier,
    schedule_id_for,
)

__all__ = [
    "AccountState",
    "ClientBilling",
    "EraTotal",
    "FeeAccount",
    "FeeBase",
    "FeeCause",
    "FeeComputation",
    "FeeLine",
    "FeeLineKind",
    "FeeSchedule",
    "FeeTerms",
    "IdrFeeFact",
    "Invoice",
    "LineRecord",
    "LineReferences",
    "PaymentFact",
    "PaymentKind",
    "ResolutionStage",
    "RoiEntry",
    "RoiFigures",
    "RoiReport",
    "ScheduleVersion",
    "Tier",
    "account_id_for",
    "assess_payment",
    "billing_id_for",
    "era_totals",
    "line_from_record",
    "line_to_record",
    "roi_report",
    "schedule_id_for",
    "validate_period",
]
