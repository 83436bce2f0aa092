"""Every event the fees service records leaves as its contract message (published.py), never as
canonical JSON, including events stored before the contracts existed."""

from __future__ import annotations

import copy
import datetime as dt
import inspect
from datetime import UTC, datetime

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.contracts import PROTOBUF, as_dict, decode
from services.common.wire import build_envelope
from services.fees.domain import ClientBilling, FeeAccount, FeeSchedule, line_to_record
from services.fees.published import LANGUAGE
from services.fees.tests.builders import fee_line

AT = datetime(2026, 5, 2, tzinfo=UTC)


def test_every_event_of_every_fees_aggregate_has_a_translation() -> None:
    events = {
        event
        for aggregate in (FeeAccount, FeeSchedule, ClientBilling)
        for name, event in inspect.getmembers(aggregate, inspect.isclass)
        if issubclass(event, TenantAggregate.Event)
        and name not in ("Event", "Created")  # each aggregate's own bases
    }
    assert len(events) == 9
    assert events == set(LANGUAGE.translations)


def test_lines_recorded_with_the_read_models_invoice_id_publish_as_contract_lines() -> None:
    ctx = CommandContext(tenant_id="t1", actor="finance", now=AT, request_id="close",
                         roles=frozenset({"finance"}))
    billing = ClientBilling.open(ctx, "client-1")
    billing.close_period(ctx, dt.date(2026, 4, 1), dt.date(2026, 4, 30),
                         [fee_line("a", dt.date(2026, 4, 2), 1_000)])
    _, _, recorded = billing.collect_events()
    assert isinstance(recorded, ClientBilling.InvoiceLinesRecorded)
    # As an invoice closed before lines were typed stored them: read-model rows.
    old = copy.copy(recorded)
    object.__setattr__(old, "lines", [{**line, "invoice_id": None} for line in recorded.lines])
    envelope = build_envelope("fees", 7, old, AT, LANGUAGE)
    assert envelope.payload_content_type.startswith(PROTOBUF)
    assert as_dict(decode(envelope))["lines"] == [
        line_to_record(fee_line("a", dt.date(2026, 4, 2), 1_000))]
