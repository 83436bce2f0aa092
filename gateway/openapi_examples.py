"""Request examples for the OpenAPI document (gateway/openapi.py).

Every operation gets one: the README's own bodies for the calls the README shows (the claim of
`claim.json`, the GetClaim that follows it, the auditor's ReplayClaim), and for the
others a body generated from the request's descriptor with its required fields filled (a
`requestId`, the required scalars, enums by their first real value, dates, cents as decimal
strings, nested required messages). Each example validates against its schema (a test checks
every one).
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from gateway.catalog import Method

# The README's claim.json, exactly (README.md, "Getting started"; a test compares the two).
README_CLAIM: dict[str, Any] = {
    "requestId": "pm-claim-0001",
    "claim": {
        "clientId": "metro-ed-group",
        "claimType": "CLAIM_TYPE_PROFESSIONAL",
        "patientControlNumber": "PCN0001",
        "provider": {"name": "Metro Emergency Physicians", "npi": "1234567893",
                     "tin": "12-3456789",
                     "address": {"line1": "1200 Market St", "city": "Philadelphia",
                                 "state": "PA", "postalCode": "19107"}},
        "patient": {"firstName": "Jane", "lastName": "Roe", "birthDate": "1980-04-02",
                    "memberId": "W123456789"},
        "payer": {"payerId": "87726", "name": "Example Health Plan"},
        "plan": {"name": "Acme Corp Employee Plan", "funding": "PLAN_FUNDING_SELF_FUNDED_ERISA",
                 "situsState": "PA"},
        "facility": {"name": "Mercy General", "npi": "1245319599",
                     "networkStatus": "NETWORK_STATUS_IN_NETWORK", "state": "PA"},
        "emergency": True,
        "diagnosisCodes": ["S0990XA", "R519"],
        "lines": [{"procedureCode": "99285", "modifiers": ["25"], "units": 1,
                   "billedCents": "185000", "placeOfService": "23",
                   "diagnosisPointers": [1, 2], "serviceDate": "2026-10-20"}],
    },
}
_CLAIM_ID = "0b7a3c52-5f0e-5c1e-9a53-3c1a2f4e8d10"
README_EXAMPLES: dict[str, dict[str, Any]] = {
    "oonledger.claims.v1.ClaimsService/RegisterClaim": README_CLAIM,
    "oonledger.claims.v1.ClaimsService/GetClaim": {"claimId": _CLAIM_ID},
    "oonledger.ledger.v1.AuditService/ReplayClaim": {"claimId": _CLAIM_ID},
}
# A value for each pattern a contract declares (proto/oonledger/common/v1/field.proto).
_BY_PATTERN = {
    "^[0-9]{10}$": "1234567893",
    "^([0-9]{10})?$": "1245319599",
    "^[A-Za-z0-9]{5}$": "99285",
    "^([A-Za-z]{2})?$": "PA",
    "^([0-9]{2})?$": "23",
    "^([0-9]{4})?$": "0450",
    "^([0-9]{2}-?[0-9]{7})?$": "12-3456789",
    "^([0-9]{5}(-?[0-9]{4})?)?$": "19107",
    "^([MFUmfu])?$": "F",
}
_MAX_DEPTH = 6


def example_for(method: Method, is_date: Any, is_required: Any, pattern_of: Any) -> Any:
    """The request example of an operation (the README's, else one generated)."""
    if method.full_name in README_EXAMPLES:
        return README_EXAMPLES[method.full_name]
    body = _message(method.input, is_date, is_required, pattern_of, 0)
    if not method.is_read and "request_id" in method.input.fields_by_name:
        body = {"requestId": f"{method.name[:1].lower()}{method.name[1:]}-0001", **body}
    return body


def _message(descriptor: Descriptor, is_date: Any, is_required: Any, pattern_of: Any,
             depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if depth > _MAX_DEPTH:
        return out
    for field in descriptor.fields:
        if not is_required(field):
            continue
        value = _value(field, is_date, is_required, pattern_of, depth)
        out[field.json_name] = [value] if field.is_repeated else value
    return out


def _value(field: FieldDescriptor, is_date: Any, is_required: Any, pattern_of: Any,
           depth: int) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
        return _message(field.message_type, is_date, is_required, pattern_of, depth + 1)
    if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        values = field.enum_type.values
        return (values[1] if len(values) > 1 else values[0]).name
    if field.type == FieldDescriptor.TYPE_BOOL:
        return True
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return 1.0
    if field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64,
                      FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_UINT64,
                      FieldDescriptor.TYPE_FIXED64):
        return "100000" if field.name.endswith("_cents") else "1"
    if field.type in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32,
                      FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_UINT32,
                      FieldDescriptor.TYPE_FIXED32):
        return 1
    if field.type == FieldDescriptor.TYPE_BYTES:
        return "SVNBKjAwKg=="
    if pattern_of(field):
        return _BY_PATTERN.get(pattern_of(field), "")
    if is_date(field):
        return "2026-10-20"
    if field.name.endswith("_id"):
        return _CLAIM_ID if field.name == "claim_id" else f"{field.name.removesuffix('_id')}-1"
    return field.name.replace("_", "-")
