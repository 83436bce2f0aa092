"""An invoice of thousands of lines is recorded in bounded events, and invoices stored before
(one InvoiceIssued carrying every line) still load."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.context import CommandContext
from services.common.wire import build_envelope, canonical_json, event_payload
from services.fees.application import FeesApplication
from services.fees.domain.assessment import FeeLine, line_to_record
from services.fees.domain.invoicing import LINES_PER_EVENT, ClientBilling
from services.fees.published import LANGUAGE
from services.fees.tests.builders import fee_line
from tests.support.plugin import stored_as_version_1

LINES = 2 * LINES_PER_EVENT + 17
AT = datetime(2026, 5, 2, tzinfo=UTC)


def ctx(request_id: str) -> CommandContext:
    return CommandContext(tenant_id="t1", actor="finance", now=datetime(2026, 5, 2, tzinfo=UTC),
                          roles=frozenset({"finance"}), request_id=request_id)


def candidates() -> list[FeeLine]:
    return [fee_line(f"line-{n:05d}", dt.date(2026, 4, 2), 15_000, claim_id=f"claim-{n:05d}")
            for n in range(LINES)]


@pytest.fixture(scope="module")
def app(make_settings):
    application = FeesApplication(make_settings("fees"))
    yield application
    application.close()


def test_an_invoice_of_many_lines_is_recorded_in_bounded_events(app) -> None:
    billing = ClientBilling.open(ctx("open"), "client-big")
    invoice_id = billing.close_period(ctx("close"), dt.date(2026, 4, 1), dt.date(2026, 4, 30),
                                      candidates())
    events: list[Any] = list(billing.collect_events())
    assert [type(e).__name__ for e in events] == [
        "ClientBillingOpened", "InvoiceIssued", *["InvoiceLinesRecorded"] * 3]
    assert events[1].line_count == LINES and not hasattr(events[1], "lines")
    assert [len(e.lines) for e in events[2:]] == [LINES_PER_EVENT, LINES_PER_EVENT, 17]
    # On the wire (the contract's protobuf bytes) every event stays far below the message
    # budget, and so does the JSON the event store bounds before it saves (full line records).
    wire = [build_envelope("fees", n, e, AT, LANGUAGE) for n, e in enumerate(events, 1)]
    assert max(len(envelope.SerializeToString()) for envelope in wire) < 64 * 1024
    assert max(len(canonical_json(event_payload(e))) for e in events) < 128 * 1024

    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, ClientBilling)
    invoice = replayed.invoices[invoice_id]
    assert [line.line_id for line in invoice.lines] == [c.line_id for c in candidates()]
    assert invoice.total_cents == 15_000 * LINES and invoice.line_count == LINES
    assert len(replayed.invoiced_line_ids) == LINES


def test_a_version_1_invoice_with_its_lines_inline_still_loads(app) -> None:
    billing = ClientBilling.open(ctx("open"), "client-old")
    lines = candidates()[:3]
    invoice_id = billing.close_period(ctx("close"), dt.date(2026, 4, 1), dt.date(2026, 4, 30),
                                      lines)
    opened, issued, _ = billing.collect_events()
    # As stored then: the read model's rows, with their (empty) invoice id.
    records = [{**line_to_record(line), "invoice_id": None} for line in lines]
    old = stored_as_version_1(app, issued, drop=("line_count",), lines=records)
    upcast = app.mapper.to_domain_event(old)
    assert upcast.line_count == 3
    replayed = upcast.mutate(opened.mutate(None))
    assert [line.line_id for line in replayed.invoices[invoice_id].lines] == [
        "line-00000", "line-00001", "line-00002"]
    assert replayed.invoiced_line_ids == {"line-00000", "line-00001", "line-00002"}
