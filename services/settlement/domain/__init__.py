"""The settlement domain: pure (no I/O, no clock), what the rest of the service may use.

- `settlement.py`: the `Settlement` aggregate (one per claim): opening, payments, reversals,
  PLB recoupment and interest, variances, overdue, fees, patient responsibility
- `payments.py`: a settlement's payment records, manual payment methods, the settlement id
- `terms.py`: where a settlement comes from and its status
- `journal.py`: the double-entry book: accounts, balanced transactions, the book check
- `remittance.py`: an 835 read into values (`Remittance`, `ClaimPayment`, ...), a prepared import
- `balancing.py`, `code_lists.py`: 835 balancing rules and the X12 code lists they check
- `matching.py`: **835 matching**: a CLP to a claim (rules 1-4), each SVC to an 837 line (rule 5)
- `remittance_posting.py`: posting a matched 835 onto settlements, in file order
- `remittance_import.py`: the remittance file, each 835 transaction, each bounded chunk of it
- `initial_adjudication.py`: a claim's first 835 payment or denial (no settlement, never
  adjudicated): the initial adjudication the claims service records
- `exceptions_queue.py`: unmatched claim payments and service lines, until resolved
- `settlement_waitlist.py`: the queued payments of a claim waiting for its settlement, posted
  when it opens
- `balance_billing.py`: the NSA balance-billing guard
"""

from services.settlement.domain import code_lists
from services.settlement.domain.balance_billing import RULE_CITATION, check_patient_balance
from services.settlement.domain.balancing import (
    BalancingIssue,
    check_remittance,
    patient_responsibility_warnings,
)
from services.settlement.domain.exceptions_queue import (
    RESOLVED_BY_HAND,
    RESOLVED_ON_SETTLEMENT_OPENING,
    UnmatchedClaimPayment,
    UnmatchedServiceLine,
    exception_id_for,
    line_exception_id_for,
)
from services.settlement.domain.initial_adjudication import (
    InitialAdjudication,
    RemittedAdjudication,
    initial_adjudication_id_for,
)
from services.settlement.domain.journal import (
    Account,
    BookCheck,
    BookViolation,
    JournalTransaction,
    Posting,
    account_balances,
    transfer,
    verify_transactions,
)
from services.settlement.domain.matching import (
    AMBIGUOUS,
    MATCHED,
    RULE_LINE_CONTROL_NUMBER,
    RULE_ORIGINAL_REFERENCE,
    RULE_PATIENT_CONTROL_NUMBER,
    RULE_PAYER_CLAIM_CONTROL_NUMBER,
    RULE_PROCEDURE_DATE_CHARGE,
    RULE_TRUNCATED_PATIENT_CONTROL_NUMBER,
    UNMATCHED,
    ClaimIndex,
    ClaimLine,
    ClaimReference,
    LineMatch,
    Match,
    NoMatch,
    match_claim,
    match_line,
    match_lines,
    plain_key,
    prefixes_of,
)
from services.settlement.domain.payments import (
    INITIAL_PAYMENT_ID,
    ManualPaymentMethod,
    PaymentMethod,
    PaymentRecord,
    settlement_id_for,
)
from services.settlement.domain.remittance import (
    Adjustment,
    ClaimPayment,
    PreparedImport,
    ProviderAdjustment,
    Remittance,
    ServiceLine,
)
from services.settlement.domain.remittance_import import (
    CLAIMS_PER_CHUNK,
    MAX_RECORDED_REASONS,
    RemittanceChunk,
    RemittanceFile,
    RemittanceRecord,
    chunk_id_for,
    file_id_for,
    remittance_id_for,
)
from services.settlement.domain.remittance_posting import (
    NO_SETTLEMENT,
    LineException,
    PaymentException,
    PostingOutcome,
    match_remittance,
    payment_id_for,
    post_remittance,
)
from services.settlement.domain.settlement import Settlement
from services.settlement.domain.settlement_waitlist import (
    SettlementWaitlist,
    WaitingFeeLine,
    post_waiting,
    post_waiting_fees,
    waitlist_id_for,
)
from services.settlement.domain.terms import (
    SettlementSource,
    SettlementStatus,
    settlement_status,
)

__all__ = [
    "AMBIGUOUS",
    "CLAIMS_PER_CHUNK",
    "INITIAL_PAYMENT_ID",
    "MATCHED",
    "MAX_RECORDED_REASONS",
    "NO_SETTLEMENT",
    "RESOLVED_BY_HAND",
    "RESOLVED_ON_SETTLEMENT_OPENING",
    "RULE_CITATION",
    "RULE_LINE_CONTROL_NUMBER",
    "RULE_ORIGINAL_REFERENCE",
    "RULE_PATIENT_CONTROL_NUMBER",
    "RULE_PAYER_CLAIM_CONTROL_NUMBER",
    "RULE_PROCEDURE_DATE_CHARGE",
    "RULE_TRUNCATED_PATIENT_CONTROL_NUMBER",
    "UNMATCHED",
    "Account",
    "Adjustment",
    "BalancingIssue",
    "BookCheck",
    "BookViolation",
    "ClaimIndex",
    "ClaimLine",
    "ClaimPayment",
    "ClaimReference",
    "InitialAdjudication",
    "JournalTransaction",
    "LineException",
    "LineMatch",
    "ManualPaymentMethod",
    "Match",
    "NoMatch",
    "PaymentException",
    "PaymentMethod",
    "PaymentRecord",
    "Posting",
    "PostingOutcome",
    "PreparedImport",
    "ProviderAdjustment",
    "Remittance",
    "RemittanceChunk",
    "RemittanceFile",
    "RemittanceRecord",
    "RemittedAdjudication",
    "ServiceLine",
    "Settlement",
    "SettlementSource",
    "SettlementStatus",
    "SettlementWaitlist",
    "UnmatchedClaimPayment",
    "UnmatchedServiceLine",
    "WaitingFeeLine",
    "account_balances",
    "check_patient_balance",
    "check_remittance",
    "chunk_id_for",
    "code_lists",
    "exception_id_for",
    "file_id_for",
    "initial_adjudication_id_for",
    "line_exception_id_for",
    "match_claim",
    "match_line",
    "match_lines",
    "match_remittance",
    "patient_responsibility_warnings",
    "payment_id_for",
    "plain_key",
    "post_remittance",
    "post_waiting",
    "post_waiting_fees",
    "prefixes_of",
    "remittance_id_for",
    "settlement_id_for",
    "settlement_status",
    "transfer",
    "verify_transactions",
    "waitlist_id_for",
]
