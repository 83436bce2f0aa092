"""The X12 835 code values the ledger accepts (005010X221A1); anything else quarantines the file."""

from __future__ import annotations

import re

# CLP02 claim status codes.
CLAIM_STATUS = {
    "1": "processed as primary",
    "2": "processed as secondary",
    "3": "processed as tertiary",
    "4": "denied",
    "19": "processed as primary, forwarded to additional payer(s)",
    "20": "processed as secondary, forwarded to additional payer(s)",
    "21": "processed as tertiary, forwarded to additional payer(s)",
    "22": "reversal of previous payment",
    "23": "not our claim, forwarded to additional payer(s)",
    "25": "predetermination pricing only, no payment",
}
REVERSAL_STATUS = "22"
DENIED_STATUS = "4"
PREDETERMINATION_STATUS = "25"

# CAS01 claim adjustment group codes. CR is a 4010-era value accepted from legacy feeds only.
ADJUSTMENT_GROUPS = {
    "CO": "contractual obligation",
    "PR": "patient responsibility",
    "OA": "other adjustment",
    "PI": "payer initiated reduction",
    "CR": "correction and reversal (4010, legacy input only)",
}
PATIENT_RESPONSIBILITY_GROUP = "PR"

# CARCs are maintained by X12 and updated three times a year; we check their shape, not the list.
CARC_PATTERN = re.compile(r"^[A-Z0-9]{1,5}$")

# BPR01 transaction handling, BPR04 payment method.
HANDLING_CODES = {"C", "D", "H", "I", "P", "U", "X"}
PAYMENT_METHODS = {"ACH", "BOP", "CHK", "FWT", "NON"}

# PLB03-1 provider adjustment reason codes (element 426).
PROVIDER_ADJUSTMENT_REASONS = {
    "50", "51", "72", "90", "AH", "AM", "AP", "B2", "B3", "BD", "BN", "C5", "CR", "CS", "CT",
    "CV", "CW", "DM", "E3", "FB", "FC", "GO", "HM", "IP", "IR", "IS", "J1", "L3", "L6", "LE",
    "LS", "OA", "OB", "PI", "PL", "RA", "RE", "SL", "TL", "WO", "WU",
}  # fmt: skip
RECOUPMENT_REASONS = {"WO", "WU"}
FORWARD_BALANCE_REASON = "FB"
INTEREST_REASON = "L6"
