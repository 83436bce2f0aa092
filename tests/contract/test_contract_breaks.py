"""A change that breaks a consumer fails here: a renamed field, a missing fact, a newer version.

The scenario of issue 13: settlement renames PaymentPosted's `amount_cents` and fees, which bills
on it, is not updated. Before the published language fees read `payload.get("amount_cents") or 0`
and billed a fee of 0 with every test green.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from oonledger.common.v1 import field_pb2
from oonledger.settlement.v1 import events_pb2 as settlement_v1
from oonledger.settlement.v1 import journal_pb2
from services.common import contracts
from services.common.consumer import Delivery, PermanentFailure
from services.common.contracts import ContractViolation, as_dict, decode, message_from_dict
from services.common.wire import CONTENT_TYPE, build_envelope, canonical_json, event_payload
from services.fees.adapters.subscriptions import FeeReactions

from . import golden
from .producers import PRODUCERS


def _renamed(message: str, old: str, new: str) -> type:
    """settlement's events.proto as it would be after renaming one field (same number)."""
    pool = descriptor_pool.DescriptorPool()
    for module in (descriptor_pb2, field_pb2, journal_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        pool.Add(proto)
    events = descriptor_pb2.FileDescriptorProto()
    settlement_v1.DESCRIPTOR.CopyToProto(events)
    (target,) = [m for m in events.message_type if m.name == message]
    (field,) = [f for f in target.field if f.name == old]
    field.name = new
    field.json_name = new
    pool.Add(events)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName(f"oonledger.settlement.v1.{message}"))


def test_renaming_a_field_makes_the_golden_payload_disagree_with_the_contract() -> None:
    renamed = _renamed("PaymentPosted", "amount_cents", "amount_paid_cents")
    found = golden.violations(renamed.DESCRIPTOR, golden.load("settlement", "PaymentPosted"))
    assert found == [
        "amount_cents: in the golden payload, not in oonledger.settlement.v1.PaymentPosted",
        "amount_paid_cents: in oonledger.settlement.v1.PaymentPosted, not in the golden payload",
    ]


def test_renaming_a_field_breaks_the_consumer_that_reads_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Contract renamed (and the producer with it), fees not updated: fees' contract test fails
    loudly instead of billing 0."""
    renamed = _renamed("PaymentPosted", "amount_cents", "amount_paid_cents")
    fields = golden.load("settlement", "PaymentPosted")
    fields["amount_paid_cents"] = fields.pop("amount_cents")
    message = message_from_dict(renamed, fields)
    original = contracts.CONTRACTS[("settlement", "PaymentPosted")][1]
    monkeypatch.setitem(contracts.CONTRACTS, ("settlement", "PaymentPosted"),
                        {1: dataclasses.replace(original, message_class=renamed)})
    monkeypatch.setattr(settlement_v1, "PaymentPosted", renamed)
    envelope = golden.envelope("settlement", "PaymentPosted", fields=fields)
    assert envelope.payload == message.SerializeToString(deterministic=True)
    delivery = Delivery(envelope, as_dict(message), golden.AT_RECEIPT)
    with pytest.raises(AttributeError, match="amount_cents"):
        FeeReactions.payment_fact(delivery)


def test_a_producer_whose_domain_field_was_renamed_cannot_publish() -> None:
    """The translation is strict: a domain rename must be met by an explicit contract change."""
    fields = golden.load("settlement", "PaymentPosted")
    fields["amount_received_cents"] = fields.pop("amount_cents")
    with pytest.raises(ContractViolation, match=(
            "not in the contract: amount_received_cents; not provided: amount_cents")):
        message_from_dict(settlement_v1.PaymentPosted, fields)


def test_a_missing_required_fact_is_a_dead_letter_with_the_reason_never_a_zero_fee() -> None:
    fields = golden.load("settlement", "PaymentPosted")
    fields["amount_cents"] = 0
    message = message_from_dict(settlement_v1.PaymentPosted, fields)
    envelope = golden.envelope("settlement", "PaymentPosted")
    envelope.payload = message.SerializeToString()
    delivery = Delivery(envelope, {}, golden.AT_RECEIPT)
    with pytest.raises(PermanentFailure, match=r"required field.* missing: amount_cents"):
        FeeReactions.payment_fact(delivery)


def test_an_unknown_newer_version_is_refused_with_the_reason() -> None:
    envelope = golden.envelope("settlement", "PaymentPosted")
    envelope.schema_version = 2
    with pytest.raises(PermanentFailure, match=r"unknown schema version .*reads v1"):
        _ = Delivery(envelope, {}, golden.AT_RECEIPT).message


def test_a_payload_of_another_message_type_is_refused() -> None:
    envelope = golden.envelope("settlement", "PaymentPosted")
    envelope.payload_content_type = (
        "application/x-protobuf; messageType=oonledger.settlement.v1.PaymentReversed")
    with pytest.raises(ContractViolation, match="expected"):
        decode(envelope)


@pytest.mark.parametrize(("service", "event_type"), sorted(PRODUCERS))
def test_a_pre_contract_json_payload_is_upcast_to_v1(service: str, event_type: str) -> None:
    """Events recorded before the published language (canonical JSON of the domain event, the
    "v0" form, still in streams and in the ledger) read as the v1 message."""
    event = PRODUCERS[(service, event_type)]()
    envelope = golden.envelope(service, event_type)
    envelope.payload = canonical_json(event_payload(event))
    envelope.payload_content_type = CONTENT_TYPE
    envelope.schema_version = int(getattr(type(event), "class_version", 1))
    assert as_dict(decode(envelope)) == _without_tokens(golden.load(service, event_type))


def _without_tokens(view: Any) -> Any:
    """A pre-contract payload holds account identifiers in plain text, which the generic upcast
    (no PHI key) drops: their tokens read as "". A consumer holding the key recovers them from
    the raw payload (the claims read model does; docs/events.md)."""
    if isinstance(view, dict):
        return {name: "" if name.endswith(("_index", "_sealed")) else _without_tokens(value)
                for name, value in view.items()}
    if isinstance(view, list):
        return [_without_tokens(item) for item in view]
    return view


def test_the_relay_never_falls_back_to_json_for_a_contracted_event() -> None:
    """A domain event its translation cannot publish stops the relay loudly (it retries the same
    event), rather than leaving as a JSON payload or with a zero."""
    from services.common.phi import PhiKeys
    from services.settlement.published import language

    event = PRODUCERS[("settlement", "PaymentPosted")]()
    object.__setattr__(event, "paid_on", None)  # a required fact the domain failed to state
    with pytest.raises(ContractViolation, match=r"required field.* missing: paid_on"):
        build_envelope("settlement", 7, event, event.timestamp,
                       language(PhiKeys.from_env({}, dev_mode=True)))
