"""OpenAPI from the descriptors and the JSON mapping of requests/responses."""

from __future__ import annotations

import json

import pytest

from gateway import transcoding
from gateway.catalog import Catalog
from gateway.http_front import routes, short_name
from gateway.openapi import document, route_for
from oonledger.claims.v1 import claims_pb2

CATALOG = Catalog.discover()
REGISTER = CATALOG.get("/oonledger.claims.v1.ClaimsService/RegisterClaim")


def test_every_method_has_a_route_and_every_reference_resolves():
    doc = document(CATALOG)
    assert doc["openapi"] == "3.1.0"
    assert {route_for(m) for m in CATALOG} == set(doc["paths"])
    schemas = doc["components"]["schemas"]
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}:
        assert ref in schemas, ref
    claim = schemas["oonledger.claims.v1.ClaimInput"]["properties"]
    assert claim["totalBilledCents"]["format"] == "int64"
    assert schemas["oonledger.claims.v1.ClaimType"]["enum"][1] == "CLAIM_TYPE_PROFESSIONAL"


def test_streaming_methods_are_described_as_ndjson():
    doc = document(CATALOG)
    for method in CATALOG:
        content = doc["paths"][route_for(method)]["post"]["responses"]["200"]["content"]
        expected = "application/x-ndjson" if method.server_streaming else "application/json"
        assert list(content) == [expected]


def test_aliases_use_the_short_service_name():
    table = routes(CATALOG)
    assert table["/v1/claims/GetClaim"].full_name == "oonledger.claims.v1.ClaimsService/GetClaim"
    assert short_name("oonledger.ledger.v1.AuditService") == "audit"
    assert all(route_for(m) in table for m in CATALOG)


def test_json_in_both_field_spellings_becomes_the_same_bytes():
    camel = b'{"requestId": "r1", "claim": {"totalBilledCents": "12345", "emergency": true}}'
    snake = b'{"request_id": "r1", "claim": {"total_billed_cents": 12345, "emergency": true}}'
    as_camel = transcoding.request_bytes(REGISTER, camel)
    assert as_camel == transcoding.request_bytes(REGISTER, snake)
    parsed = claims_pb2.RegisterClaimRequest.FromString(as_camel)
    assert parsed.claim.total_billed_cents == 12345


@pytest.mark.parametrize("body", [
    b"{", b"[1, 2]", b'"text"', b'{"unknownField": 1}', b'{"claim": {"totalBilledCents": 1.5}}',
    b'{"claim": {"claimType": "NOT_A_TYPE"}}', b"\xff\xfe",
])
def test_malformed_json_is_refused(body):
    with pytest.raises(transcoding.MalformedJson):
        transcoding.request_bytes(REGISTER, body)


def test_empty_body_is_the_empty_request_and_responses_print_defaults():
    assert transcoding.request_bytes(REGISTER, b"") == b""
    response = CATALOG.get("/oonledger.claims.v1.ClaimsService/RegisterClaim")
    reply = claims_pb2.RegisterClaimResponse(created=False).SerializeToString()
    assert transcoding.response_json(response, reply) == {"created": False}
