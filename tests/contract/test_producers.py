"""Producers: each service's published.py turns its domain event into exactly the golden message,
and every golden payload is a faithful instance of its contract."""

from __future__ import annotations

import importlib

import pytest

from services.common.contracts import CONTRACTS, as_dict, decode
from services.common.wire import build_envelope

from .golden import descriptor_of, golden_files, load, violations
from .producers import AT, PRODUCERS

ALL = sorted(golden_files())


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
    language = importlib.import_module(f"services.{service}.published").LANGUAGE
    event = PRODUCERS[(service, event_type)]()
    envelope = build_envelope(service, 42, event, AT, language)
    assert envelope.payload_content_type == (
        f"application/x-protobuf; messageType=oonledger.{service}.v1.{event_type}")
    assert envelope.schema_version == version
    assert as_dict(decode(envelope)) == load(service, event_type, version)


def test_each_service_publishes_exactly_its_contracts() -> None:
    for service in ("claims", "negotiation", "settlement", "fees"):
        language = importlib.import_module(f"services.{service}.published").LANGUAGE
        published = {event_class.__name__ for event_class in language.translations}
        assert published == {e for s, e in CONTRACTS if s == service}, service
