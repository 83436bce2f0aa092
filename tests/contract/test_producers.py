"""Producers: each service's published.py turns its domain event into exactly the golden message,
and every golden payload is a faithful instance of its contract."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from services.common import phi
from services.common.contracts import CONTRACTS, PublishedLanguage, as_dict, decode
from services.common.wire import build_envelope

from .golden import descriptor_of, golden_files, load, violations
from .producers import AT, PRODUCERS

ALL = sorted(golden_files())
# The golden index tokens (`*_index`) are computed under the development PHI key.
KEYS = phi.PhiKeys.from_env({}, dev_mode=True)


def published_language(service: str) -> PublishedLanguage:
    """A service's published language; built with the PHI keys where it tokenizes identifiers."""
    module = importlib.import_module(f"services.{service}.published")
    if hasattr(module, "language"):
        built: PublishedLanguage = module.language(KEYS)
        return built
    fixed: PublishedLanguage = module.LANGUAGE
    return fixed


def unsealed(view: Any) -> Any:
    """The dict view with each sealed value (`*_sealed`, random nonce) replaced by its plain
    text, so a producer's output compares with the golden payload."""
    if isinstance(view, dict):
        return {name: KEYS.unseal(value) if name.endswith("_sealed") else unsealed(value)
                for name, value in view.items()}
    if isinstance(view, list):
        return [unsealed(item) for item in view]
    return view


def test_every_contract_version_has_a_golden_payload_and_a_producer_fixture() -> None:
    contracts = {(s, e, v) for (s, e), versions in CONTRACTS.items() for v in versions}
    assert set(golden_files()) == contracts
    assert {(s, e) for s, e, _ in contracts} == set(PRODUCERS)


@pytest.mark.parametrize(("service", "event_type", "version"), ALL)
def test_golden_payload_matches_its_contract(service: str, event_type: str, version: int) -> None:
    assert violations(descriptor_of(service, event_type, version),
                      load(service, event_type, version)) == []


@pytest.mark.parametrize(("service", "event_type", "version"), ALL)
def test_producer_publishes_the_golden_message(service: str, event_type: str,
                                               version: int) -> None:
    event = PRODUCERS[(service, event_type)]()
    envelope = build_envelope(service, 42, event, AT, published_language(service))
    assert envelope.payload_content_type == (
        f"application/x-protobuf; messageType=oonledger.{service}.v1.{event_type}")
    assert envelope.schema_version == version
    assert unsealed(as_dict(decode(envelope))) == unsealed(load(service, event_type, version))


def test_each_service_publishes_exactly_its_contracts() -> None:
    for service in ("claims", "negotiation", "settlement", "fees"):
        published = {event_class.__name__
                     for event_class in published_language(service).translations}
        assert published == {e for s, e in CONTRACTS if s == service}, service


def test_no_account_identifier_of_a_claim_leaves_in_plain_text() -> None:
    """The patient control number and the payer's claim control numbers travel as keyed hashes
    (and the PCN sealed): their plain text is nowhere in the bytes claims publishes."""
    language = published_language("claims")
    for event_type, plain in (("ClaimRegistered", b"PCN-1001"),
                              ("AdjudicationRecorded", b"ICN-77")):
        event = PRODUCERS[("claims", event_type)]()
        envelope = build_envelope("claims", 42, event, AT, language)
        assert plain not in envelope.SerializeToString(), event_type
        view = as_dict(decode(envelope))
        if event_type == "ClaimRegistered":
            assert view["claim"]["patient_control_number_index"] == KEYS.index(
                "tenant-golden", phi.PATIENT_CONTROL_NUMBER, " pcn-1001 ")
            assert KEYS.unseal(view["claim"]["patient_control_number_sealed"]) == "PCN-1001"
        else:
            assert view["adjudication"]["payer_claim_control_number_index"] == KEYS.index(
                "tenant-golden", phi.PAYER_CLAIM_NUMBER, "ICN-77")
    # Another key gives other tokens: without the key a token reveals nothing.
    other = phi.PhiKeys(bytes(32)).index("tenant-golden", phi.PATIENT_CONTROL_NUMBER, "PCN-1001")
    assert other != KEYS.index("tenant-golden", phi.PATIENT_CONTROL_NUMBER, "PCN-1001")


def test_no_account_identifier_of_a_remittance_leaves_settlement_in_plain_text() -> None:
    """Settlement's payments and exceptions carry CLP01/CLP07 as keyed hashes and sealed values
    only (the domain events keep them plain inside the encrypted event store)."""
    language = published_language("settlement")
    for event_type, plain in (("PaymentPosted", ("ICN-78",)),
                              ("UnmatchedClaimPaymentQueued", ("PCN-2002", "ICN-79")),
                              ("UnmatchedServiceLineQueued", ("PCN-1001", "ICN-78"))):
        event = PRODUCERS[("settlement", event_type)]()
        envelope = build_envelope("settlement", 42, event, AT, language)
        for value in plain:
            assert value.encode() not in envelope.SerializeToString(), (event_type, value)
        view = as_dict(decode(envelope))
        index = view["payer_claim_control_number_index"]
        assert index == KEYS.index("tenant-golden", phi.PAYER_CLAIM_NUMBER, plain[-1].lower())
        assert KEYS.unseal(view["payer_claim_control_number_sealed"]) == plain[-1]


def _recorded_event_classes(service: str) -> set[str]:
    """Every domain event class of every aggregate the service records (its relay publishes
    each one)."""
    import inspect
    import pkgutil

    from services.common.aggregate import TenantAggregate

    package = importlib.import_module(f"services.{service}")
    names: set[str] = set()
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if ".tests" in module.name or module.name.endswith((".main", ".__main__")):
            continue
        for _, aggregate in inspect.getmembers(importlib.import_module(module.name),
                                               inspect.isclass):
            if not issubclass(aggregate, TenantAggregate) or aggregate is TenantAggregate:
                continue
            for name, value in vars(aggregate).items():
                if (inspect.isclass(value) and hasattr(value, "mutate")
                        and name not in ("Created", "Event") and not name.startswith("Snapshot")):
                    names.add(name)
    return names


@pytest.mark.parametrize("service", ["claims", "negotiation", "settlement", "fees"])
def test_every_event_a_service_records_leaves_as_a_contract(service: str) -> None:
    """Issue 13 item 1: nothing leaves a service as loose JSON."""
    published = {event_class.__name__
                 for event_class in published_language(service).translations}
    assert _recorded_event_classes(service) - published == set()
