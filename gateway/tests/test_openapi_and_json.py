"""OpenAPI from the descriptors and the JSON mapping of requests/responses."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import jsonschema
import pytest
from google.protobuf import descriptor_pool, json_format, wrappers_pb2

from gateway import transcoding
from gateway.catalog import Catalog
from gateway.openapi import document, route_for, routes, short_name
from gateway.proto_comments import proto_comments
from oonledger.claims.v1 import claims_pb2

CATALOG = Catalog.discover()
REGISTER = CATALOG.get("/oonledger.claims.v1.ClaimsService/RegisterClaim")


def test_every_method_has_a_route_and_every_reference_resolves():
    doc = document(CATALOG)
    assert doc["openapi"] == "3.1.0"
    assert set(routes(CATALOG)) == set(doc["paths"])  # every route, the short ones too
    short = doc["paths"]["/v1/claims/GetClaim"]["post"]
    assert short["x-short-route-of"] == "/v1/oonledger.claims.v1.ClaimsService/GetClaim"
    assert short["operationId"] == "claims.GetClaim"
    canonical = doc["paths"]["/v1/oonledger.claims.v1.ClaimsService/GetClaim"]["post"]
    assert "Also at `POST /v1/claims/GetClaim`" in canonical["description"]
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


# -- what a generated client learns from the document -----------------------------------------
DOC = document(CATALOG)
SCHEMAS = DOC["components"]["schemas"]


def validator_for(name: str) -> jsonschema.Draft202012Validator:
    """A JSON Schema validator for one component, resolving its references in the document."""
    root = {"$ref": f"#/components/schemas/{name}", "components": DOC["components"]}
    return jsonschema.Draft202012Validator(
        root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_the_document_is_openapi_3_1_with_valid_json_schemas_and_unique_operations():
    assert DOC["openapi"].startswith("3.1.")
    assert DOC["info"]["title"] and DOC["info"]["version"]
    for schema in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(schema)  # each is valid JSON Schema 2020-12
    operations = {path: item for path, item in DOC["paths"].items()
                  if "x-short-route-of" not in item["post"]}
    operation_ids = [item["post"]["operationId"] for item in DOC["paths"].values()]
    assert len(operation_ids) == len(set(operation_ids))
    assert len(operations) == len(list(CATALOG))
    for item in DOC["paths"].values():
        if "x-short-route-of" in item["post"]:  # a short route: the same operation
            target = item["post"]["x-short-route-of"]
            assert {**operations[target]["post"], "operationId": "", "summary": "",
                    "x-short-route-of": target} == {**item["post"], "operationId": "",
                                                    "summary": ""}
    for path, item in operations.items():
        operation = item["post"]
        assert path.startswith("/v1/") and operation["responses"]["200"]["description"]
        assert operation["description"].strip(), path


def test_every_operation_and_field_is_described_from_the_proto_comments():
    get_claim = DOC["paths"]["/v1/oonledger.claims.v1.ClaimsService/ImportClaims"]["post"]
    assert get_claim["description"].startswith("Bulk intake: thousands of claims per call")
    npi = SCHEMAS["oonledger.claims.v1.Provider"]["properties"]["npi"]
    assert npi["description"].startswith("10 digits, Luhn check digit")
    for name, schema in SCHEMAS.items():
        for field, prop in schema.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{field}"
    comments = proto_comments()
    described_rpcs = [m for m in CATALOG if f"{m.service}.{m.name}" in comments]
    assert len(described_rpcs) == len(list(CATALOG)), "an RPC without a comment in its .proto"


def test_required_fields_formats_and_patterns_are_declared():
    register = SCHEMAS["oonledger.claims.v1.RegisterClaimRequest"]
    assert register["required"] == ["requestId", "claim"]
    claim = SCHEMAS["oonledger.claims.v1.ClaimInput"]
    assert {"clientId", "claimType", "patientControlNumber", "lines"} <= set(claim["required"])
    assert claim["properties"]["lines"]["minItems"] == 1
    line = SCHEMAS["oonledger.claims.v1.ServiceLine"]["properties"]
    assert line["billedCents"] == {
        "type": ["string", "integer"], "format": "int64", "pattern": "^-?[0-9]+$",
        "description": line["billedCents"]["description"]}
    assert "Integer cents" in line["billedCents"]["description"]
    assert line["serviceDate"]["format"] == "date"
    assert SCHEMAS["oonledger.claims.v1.Provider"]["properties"]["npi"]["pattern"] == (
        "^[0-9]{10}$")
    assert "`CLAIM_TYPE_PROFESSIONAL`: 837P / CMS-1500" in SCHEMAS[
        "oonledger.claims.v1.ClaimType"]["description"]
    # Reads carry no request id; mutating calls of every service require one.
    assert "required" not in SCHEMAS["oonledger.claims.v1.ListClaimsRequest"]
    post_payment = SCHEMAS["oonledger.settlement.v1.PostPaymentRequest"]["required"]
    assert post_payment == ["requestId", "claimId", "amountCents"]
    for method in CATALOG:
        if not method.is_read:
            assert "requestId" in SCHEMAS[method.input.full_name]["required"], method.full_name
    path = DOC["paths"]["/v1/oonledger.claims.v1.ClaimsService/RegisterClaim"]["post"]
    assert path["requestBody"]["required"] is True


def _good_register_body() -> dict:
    from gateway.tests.samples import emergency_claim

    return {"requestId": "r-1", "claim": json_format.MessageToDict(
        emergency_claim(), preserving_proto_field_name=False)}


@pytest.mark.parametrize(("change", "where"), [
    (lambda b: b["claim"]["lines"][0].update(billedCents=1.5), "billedCents"),
    (lambda b: b["claim"]["lines"][0].update(billedCents="12.50"), "billedCents"),
    (lambda b: b["claim"].update(claimType=None), "claimType"),
    (lambda b: b["claim"].update(claimType="CLAIM_TYPE_DENTAL"), "claimType"),
    (lambda b: b["claim"]["lines"][0].update(serviceDate="2026-13-40"), "serviceDate"),
    (lambda b: b["claim"]["provider"].update(npi="12345"), "npi"),
    (lambda b: b["claim"].update(lines=[]), "lines"),
    (lambda b: b.pop("requestId"), "requestId"),
    (lambda b: b["claim"].pop("clientId"), "clientId"),
])
def test_the_generated_schema_accepts_a_good_body_and_rejects_bad_ones(change, where):
    check = validator_for("oonledger.claims.v1.RegisterClaimRequest")
    body = _good_register_body()
    assert not list(check.iter_errors(body))
    transcoding.request_bytes(REGISTER, json.dumps(body).encode())  # the gateway takes it too
    change(body)
    errors = list(check.iter_errors(body))
    assert errors and any(where in [*e.path, e.message] or where in e.message
                          for e in errors), [e.message for e in errors]


def test_null_is_refused_for_every_typed_field_and_allowed_for_wrappers():
    with pytest.raises(transcoding.MalformedJson) as caught:
        transcoding.request_bytes(REGISTER, b'{"requestId": null, "claim": {"lines": [null]}}')
    assert [v.path for v in caught.value.violations] == ["requestId", "claim.lines[0]"]
    int64_value = transcoding.json_violations(
        wrappers_pb2.Int64Value.DESCRIPTOR, {"value": None})
    assert [v.path for v in int64_value] == ["value"]  # the wrapper's own field is typed


def test_type_errors_are_all_reported_with_their_json_paths():
    body = {"requestId": 5, "claim": {"lines": [{}, {"units": "x", "modifiers": "25"}],
                                      "provider": {"address": []}, "bogus": 1}}
    with pytest.raises(transcoding.MalformedJson) as caught:
        transcoding.request_bytes(REGISTER, json.dumps(body).encode())
    assert {v.path for v in caught.value.violations} == {
        "requestId", "claim.lines[1].units", "claim.lines[1].modifiers",
        "claim.provider.address", "claim.bogus"}
    assert "units" in str(caught.value) and "bogus" in str(caught.value)


def test_a_real_openapi_validator_accepts_the_document():
    from openapi_spec_validator import validate

    validate(DOC)  # raises on any violation of the OpenAPI 3.1 specification


def test_every_operation_has_a_request_example_its_schema_accepts():
    for path, item in DOC["paths"].items():
        media = item["post"]["requestBody"]["content"]["application/json"]
        assert "example" in media, path
        schema_name = media["schema"]["$ref"].rsplit("/", 1)[-1]
        errors = [e.message for e in validator_for(schema_name).iter_errors(media["example"])]
        assert errors == [], (path, errors)
        method = routes(CATALOG)[path]
        transcoding.request_bytes(method, json.dumps(media["example"]).encode())  # and the gateway


def test_the_readme_routes_and_claim_are_in_the_document():
    from pathlib import Path

    from gateway.openapi_examples import README_CLAIM

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    used = set(re.findall(r"(/v1/[a-z]+/[A-Za-z]+)", readme))
    assert {"/v1/claims/RegisterClaim", "/v1/claims/GetClaim"} <= used
    assert used <= set(DOC["paths"]), used - set(DOC["paths"])
    claim_json = readme.split("(`claim.json`):", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    assert json.loads(claim_json) == README_CLAIM
    register = DOC["paths"]["/v1/claims/RegisterClaim"]["post"]["requestBody"]["content"]
    assert register["application/json"]["example"] == README_CLAIM


def _not_from_a_comment(doc: dict, comments: Mapping[str, str]) -> list[str]:
    """Every message schema, field, enum and operation of `doc` whose description is not its own
    comment in the `.proto` (a field's comment is not borrowed from its type or its name)."""
    pool = descriptor_pool.Default()
    missing = []
    for name, schema in doc["components"]["schemas"].items():
        if not name.startswith("oonledger."):
            continue  # the Error schema is the gateway's own
        if "enum" in schema:
            if name not in comments:
                missing.append(name)
            continue
        if not schema.get("description") or comments.get(name) != schema["description"]:
            missing.append(name)
        message = pool.FindMessageTypeByName(name)
        by_json = {f.json_name: f for f in message.fields}
        for json_name, prop in schema["properties"].items():
            own = comments.get(by_json[json_name].full_name, "")
            if not own or not prop["description"].startswith(own):
                missing.append(f"{name}.{json_name}")
    for method in CATALOG:
        own = comments.get(f"{method.service}.{method.name}", "")
        operation = doc["paths"][route_for(method)]["post"]
        if not own or not operation["description"].startswith(own):
            missing.append(method.full_name)
    return missing


def test_every_field_message_enum_and_operation_is_described_by_its_own_proto_comment():
    comments = proto_comments()
    fields = [f for s in SCHEMAS.values() for f in s.get("properties", {})]
    assert len(fields) > 1000  # the whole document, not only the README's calls
    assert _not_from_a_comment(DOC, comments) == []
    # The check can fail: a field, a message and an RPC without their comments are named.
    npi, patient = "oonledger.claims.v1.Provider.npi", "oonledger.claims.v1.Patient"
    get_claim = "oonledger.claims.v1.ClaimsService.GetClaim"
    fewer = {k: v for k, v in comments.items() if k not in {npi, patient, get_claim}}
    found = _not_from_a_comment(document(CATALOG, comments=fewer), fewer)
    assert {"oonledger.claims.v1.Provider.npi", patient,
            "oonledger.claims.v1.ClaimsService/GetClaim"} <= set(found), found
    # A field without a comment reads as its name (the document is still served), never as a
    # borrowed meaning.
    bare = document(CATALOG, comments=fewer)["components"]["schemas"]
    assert bare["oonledger.claims.v1.Provider"]["properties"]["npi"]["description"].startswith(
        "Npi.")


def test_list_import_jobs_is_routed_documented_and_a_read_of_every_role():
    from services.common.auth import EVERYONE, roles_for

    for short, service in (("claims", "oonledger.claims.v1.ClaimsService"),
                           ("settlement", "oonledger.settlement.v1.SettlementService")):
        method = routes(CATALOG)[f"/v1/{short}/ListImportJobs"]
        assert method.full_name == f"{service}/ListImportJobs" and method.is_read
        assert not method.server_streaming
        assert roles_for(method.full_name) == frozenset(EVERYONE)  # like GetImportJob
        operation = DOC["paths"][route_for(method)]["post"]
        assert "newest first" in operation["description"]
        package = service.rsplit(".", 1)[0]
        request = DOC["components"]["schemas"][f"{package}.ListImportJobsRequest"]
        assert set(request["properties"]) == {"pageSize", "pageToken", "state"}
        assert "required" not in request
        assert "default, 50" in request["properties"]["pageSize"]["description"]
        reply = DOC["components"]["schemas"][f"{package}.ListImportJobsResponse"]
        assert reply["properties"]["jobs"]["items"]["$ref"].endswith(
            "oonledger.common.v1.ImportJob")
