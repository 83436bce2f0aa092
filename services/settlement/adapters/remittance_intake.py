"""Turn uploaded bytes into checked remittances, or the reasons the file must be quarantined.

Pure: no I/O. Input that is not an X12 interchange at all is a bad argument (nothing stored);
an X12 file that cannot be trusted (unreadable segment, broken balance, unknown code) is
quarantined whole with every reason, so no part of it is ever posted.
"""

from __future__ import annotations

import hashlib

from services.common.errors import InvalidArgument
from services.common.gc_tuning import gc_paused
from services.settlement.adapters.x12 import RemittanceFormatError, read_remittances
from services.settlement.domain import (
    PreparedImport,
    check_remittance,
    patient_responsibility_warnings,
)
from services.x12.envelope import NotX12Error
from services.x12.segments import file_segments

MAX_FILE_BYTES = 64 * 1024 * 1024


def _decode(content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("latin-1")


@gc_paused  # bulk work that only allocates: services/common/gc_tuning.py
def prepare_import(content: bytes, file_name: str) -> PreparedImport:
    if not content:
        raise InvalidArgument("the file is empty", field="content")
    if len(content) > MAX_FILE_BYTES:
        raise InvalidArgument(f"the file exceeds {MAX_FILE_BYTES} bytes", field="content")
    text = _decode(content)
    try:
        next(file_segments(text))  # the first segment: an ISA header, else why not
    except NotX12Error as exc:
        raise InvalidArgument(f"not an X12 interchange: {exc}", field="content") from exc
    digest = hashlib.sha256(content).hexdigest()
    try:
        remittances = tuple(read_remittances(text))
    except RemittanceFormatError as exc:
        return PreparedImport(digest, file_name, len(content), (), (exc.reason,), ())
    reasons: list[str] = []
    warnings: list[str] = []
    seen_traces: set[tuple[str, str]] = set()
    for remittance in remittances:
        reasons.extend(str(issue) for issue in check_remittance(remittance))
        warnings.extend(str(w) for w in patient_responsibility_warnings(remittance))
        key = (remittance.payer_key, remittance.trace_number)
        if key in seen_traces:
            reasons.append(f"trace number {remittance.trace_number} appears twice in the file")
        seen_traces.add(key)
    return PreparedImport(
        digest, file_name, len(content), remittances, tuple(reasons), tuple(warnings)
    )
