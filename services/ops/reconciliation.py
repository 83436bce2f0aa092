"""Reconciliation: every service's own counts, compared where the facts meet.

Pure: given each service's `PipelineCounts` for one tenant, list the gaps. Zero gaps (and every
service answering) is the healthy answer.
- published: the tenant's events recorded by a service, not yet published by its relay;
- consumed:<consumer>: the upstream's events of the consumed types (all tenants) against the
  consumer's tracking records (which carry no tenant);
- ledger: the tenant's events recorded by a service against those the ledger appended;
- payments_without_one_fee / fees_without_payment: answered by the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping

from oonledger.operations.v1 import operations_pb2 as pb

LEDGER = "ledger"


def reconcile(tenant_id: str, answers: Mapping[str, pb.PipelineCounts],
              unreachable: Mapping[str, str]) -> pb.ReconciliationReport:
    report = pb.ReconciliationReport(tenant_id=tenant_id)
    for name in sorted(answers):
        report.services.append(answers[name])
    report.unreachable.extend(f"{name}: {reason}" for name, reason in sorted(unreachable.items()))
    gaps = report.gaps
    for name, counts in sorted(answers.items()):
        if counts.has_event_store and counts.recorded != counts.published:
            gaps.add(service=name, check="published", expected=counts.recorded,
                     actual=counts.published, gap=counts.recorded - counts.published,
                     detail="recorded but not yet published by the relay")
        for consumer in counts.consumers:
            upstream = answers.get(consumer.upstream)
            if not consumer.tracked or upstream is None:
                continue
            types = set(consumer.event_types)
            expected = sum(item.count for item in upstream.recorded_by_type
                           if not types or item.event_type in types)
            if expected != consumer.consumed:
                gaps.add(service=name, check=f"consumed:{consumer.consumer}", expected=expected,
                         actual=consumer.consumed, gap=expected - consumer.consumed,
                         detail=f"{consumer.upstream} events (all tenants) not processed")
    ledger = answers.get(LEDGER)
    if ledger is not None:
        appended = {item.service: item.appended for item in ledger.ledger}
        for name, counts in sorted(answers.items()):
            if counts.has_event_store and appended.get(name, 0) != counts.recorded:
                got = appended.get(name, 0)
                gaps.add(service=LEDGER, check=f"ledger:{name}", expected=counts.recorded,
                         actual=got, gap=counts.recorded - got,
                         detail=f"{name} events of the tenant not in the ledger")
        check = ledger.payments
        examples = ", ".join(check.examples)
        if check.payments_without_one_fee:
            gaps.add(service="fees", check="payments_without_one_fee", expected=check.payments,
                     actual=check.payments - check.payments_without_one_fee,
                     gap=check.payments_without_one_fee,
                     detail=f"PaymentPosted without exactly one FeeAssessed; e.g. {examples}")
        if check.fees_without_payment:
            gaps.add(service="fees", check="fees_without_payment", expected=0,
                     actual=check.fees_without_payment, gap=check.fees_without_payment,
                     detail=f"FeeAssessed naming no settlement event; e.g. {examples}")
    report.healthy = not report.gaps and not report.unreachable
    return report
