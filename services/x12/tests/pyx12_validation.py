"""Validate an 835 against the TR3 with pyx12 (the maintained X12 validator).

Too slow for the posting path (see docs/settlement.md for figures), so it backs the tests, the
benchmark and an optional strict import; balancing rules are ours (balancing.py).
"""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pyx12.params
import pyx12.x12n_document


def _text(error: Any) -> str:
    return str(error.get("err_str", error)) if isinstance(error, dict) else str(error)


def _collect(node: dict[str, Any], where: str, out: list[str]) -> None:
    for error in node.get("errors", []):
        out.append(f"{where}: {_text(error)}")
    for segment in node.get("segments", []):
        seg_where = f"{where} segment {segment.get('seg_id', '?')}"
        for error in segment.get("errors", []):
            out.append(f"{seg_where}: {_text(error)}")
        for element in segment.get("elements", []):
            for error in element.get("errors", []):
                out.append(f"{seg_where}: {_text(error)}")
    if node.get("ack_code") not in (None, "A"):
        out.append(f"{where}: acknowledgement code {node.get('ack_code')}")


def pyx12_errors(text: str) -> list[str]:
    """TR3 errors pyx12 reports for the interchange; empty when it accepts the file."""
    fd_json = io.StringIO()
    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    accepted = pyx12.x12n_document.x12n_document(
        pyx12.params.params(), io.StringIO(text), io.StringIO(), None, None, fd_json
    )
    errors: list[str] = []
    raw = fd_json.getvalue()
    report = json.loads(raw) if raw.strip() else {"interchanges": []}
    for interchange in report.get("interchanges", []):
        _collect(interchange, "ISA", errors)
        for group in interchange.get("groups", []):
            _collect(group, "GS", errors)
            for transaction in group.get("transactions", []):
                _collect(transaction, f"ST {transaction.get('trn_set_control_num')}", errors)
    if not accepted and not errors:
        errors.append("pyx12 rejected the interchange")
    return errors
