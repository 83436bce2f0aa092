"""An OpenAPI 3.1 description of the JSON routes, derived from the protobuf descriptors.

What a generated client needs to send what the services accept: descriptions from the proto
comments (gateway/proto_comments.py), required fields and patterns from the contracts' field
options (proto/oonledger/common/v1/field.proto; `requestId` of every mutating call), 64-bit
integers as decimal strings (JSON integers accepted too), calendar dates as `format: date`,
enums by name, a request example for every operation (gateway/openapi_examples.py). Nothing is
nullable except the wrapper types: the JSON front refuses `null` elsewhere (transcoding.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from gateway.catalog import Catalog, Method
from gateway.openapi_examples import example_for
from gateway.proto_comments import proto_comments
from oonledger.common.v1 import field_pb2
from services.common.auth import roles_for

_INT64 = r"^-?[0-9]+$"
_UINT64 = r"^[0-9]+$"
_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    # proto3 JSON: 64-bit integers are decimal strings, and JSON integers are read too (as
    # every proto3 JSON parser does; the answers write strings).
    FieldDescriptor.TYPE_INT64: {"type": ["string", "integer"], "format": "int64",
                                 "pattern": _INT64},
    FieldDescriptor.TYPE_UINT64: {"type": ["string", "integer"], "format": "uint64",
                                  "pattern": _UINT64, "minimum": 0},
    FieldDescriptor.TYPE_SINT64: {"type": ["string", "integer"], "format": "int64",
                                  "pattern": _INT64},
    FieldDescriptor.TYPE_FIXED64: {"type": ["string", "integer"], "format": "uint64",
                                   "pattern": _UINT64, "minimum": 0},
    FieldDescriptor.TYPE_SFIXED64: {"type": ["string", "integer"], "format": "int64",
                                    "pattern": _INT64},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "uint32"},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "uint32"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}

_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?\d+(\.\d+)?s$"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Any": {"type": "object", "properties": {"@type": {"type": "string"}}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.Int32Value": {"type": ["integer", "null"]},
    "google.protobuf.Int64Value": {"type": ["string", "integer", "null"], "pattern": _INT64},
}
# Calendar dates are ISO-8601 strings ("2026-03-14"); the contracts name them like this.
_DATE_SUFFIXES = ("_date", "_on")
_DATE_NAMES = frozenset({"service_date_from", "service_date_to", "period_start", "period_end",
                         "effective_from", "effective_until", "extended_from", "as_of"})


def is_date(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_STRING and (
        field.name.endswith(_DATE_SUFFIXES) or field.name in _DATE_NAMES
        or field.name == "due_on_or_before")


def is_required(field: FieldDescriptor) -> bool:
    return bool(field.GetOptions().Extensions[field_pb2.required])


def _pattern(field: FieldDescriptor) -> str:
    return str(field.GetOptions().Extensions[field_pb2.pattern])


def _words(name: str) -> str:
    return name.replace("_", " ").capitalize()

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "description": "Why the call failed.",
            "properties": {
                "code": {"type": "integer", "description": "HTTP status"},
                "status": {"type": "string", "description": "gRPC status name"},
                "message": {"type": "string", "description": "What went wrong, for a person."},
                "details": {
                    "type": "array", "items": {"type": "object"},
                    "description": "google.rpc details, e.g. BadRequest.fieldViolations naming "
                    "every bad field (by JSON path for a JSON type error) and RetryInfo.",
                },
            },
        }
    },
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


class _Schemas:
    def __init__(self, comments: Mapping[str, str], mutating_inputs: set[str]) -> None:
        self.components: dict[str, Any] = {"Error": ERROR_SCHEMA}
        self.comments = comments
        self.mutating_inputs = mutating_inputs

    def message(self, descriptor: Descriptor) -> dict[str, Any]:
        name = descriptor.full_name
        if name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[name])
        if name not in self.components:
            self.components[name] = {}  # placeholder first: messages may be recursive
            properties = {f.json_name: self.described(f) for f in descriptor.fields}
            required = [f.json_name for f in descriptor.fields if is_required(f)]
            if name in self.mutating_inputs and "request_id" in descriptor.fields_by_name:
                required.insert(0, "requestId")  # refused when empty (idempotency key)
            schema: dict[str, Any] = {"type": "object", "properties": properties}
            if required:
                schema["required"] = required
            if name in self.comments:
                schema["description"] = self.comments[name]
            self.components[name] = schema
        return _ref(name)

    def enum(self, descriptor: EnumDescriptor) -> dict[str, Any]:
        name = descriptor.full_name
        if name not in self.components:
            package = name.rsplit(".", 1)[0]
            meanings = [f"- `{v.name}`: {self.comments[f'{package}.{v.name}']}"
                        for v in descriptor.values if f"{package}.{v.name}" in self.comments]
            text = "\n".join([self.comments.get(name, f"One of the {descriptor.name} values."),
                              *meanings])
            self.components[name] = {"type": "string", "description": text,
                                     "enum": [v.name for v in descriptor.values]}
        return _ref(name)

    def single(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
            return self.message(field.message_type)
        if field.type == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
            return self.enum(field.enum_type)
        schema = dict(_SCALARS[field.type])
        if is_date(field):
            schema["format"] = "date"
        if _pattern(field):
            schema["pattern"] = _pattern(field)
        return schema

    def field(self, field: FieldDescriptor) -> dict[str, Any]:
        message = field.message_type
        if message is not None and message.GetOptions().map_entry:
            value = message.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value)}
        if field.is_repeated:
            items = self.single(field)
            schema: dict[str, Any] = {"type": "array", "items": items}
            if is_required(field):
                schema["minItems"] = 1
            return schema
        return self.single(field)

    def described(self, field: FieldDescriptor) -> dict[str, Any]:
        """The field's schema with its description: its comment in the `.proto`, then the facts a
        client must know (dates, cents, required). Every field of the contracts has a comment
        (gateway/tests/test_openapi_and_json.py fails on one without); a field added without
        one reads as its name in words until it gets one, so the document is always served."""
        schema = self.field(field)
        text = self.comments.get(field.full_name) or f"{_words(field.name)}."
        if is_date(field):
            text += " ISO-8601 calendar date (YYYY-MM-DD)."
        elif field.name.endswith("_cents"):
            text += " Integer cents."
        if field.type in _SCALARS and _SCALARS[field.type].get("format") in ("int64", "uint64"):
            text += " A 64-bit integer: a decimal string (a JSON integer is read too)."
        if is_required(field):
            text += " Required."
        schema["description"] = text.strip()
        return schema


def route_for(method: Method) -> str:
    return f"/v1/{method.full_name}"


def short_name(service: str) -> str:
    """`oonledger.ledger.v1.AuditService` → `audit`."""
    name = service.rsplit(".", 1)[-1]
    return (name[: -len("Service")] if name.endswith("Service") else name).lower()


def routes(catalog: Catalog) -> dict[str, Method]:
    table: dict[str, Method] = {}
    shorts: dict[str, set[str]] = {}
    for method in catalog:
        table[route_for(method)] = method
        shorts.setdefault(short_name(method.service), set()).add(method.service)
    for method in catalog:
        short = short_name(method.service)
        if len(shorts[short]) == 1:
            table.setdefault(f"/v1/{short}/{method.name}", method)
    return table


def document(catalog: Catalog, title: str = "OON Ledger partner API",
             comments: Mapping[str, str] | None = None) -> dict[str, Any]:
    comments = proto_comments() if comments is None else comments
    mutating = {m.input.full_name for m in catalog if not m.is_read}
    schemas = _Schemas(comments, mutating)
    aliases = {method.full_name: path for path, method in routes(catalog).items()
               if path != route_for(method)}
    paths: dict[str, Any] = {}
    for method in catalog:
        roles = sorted(roles_for(method.full_name))
        output = schemas.message(method.output)
        request = schemas.message(method.input)
        service_text = comments.get(method.service, "")
        text = comments.get(f"{method.service}.{method.name}", "")
        description = text or f"{method.name} ({method.service.rsplit('.', 1)[-1]})."
        description += f"\n\nRoles: {', '.join(roles) or 'any authenticated key'}."
        if method.full_name in aliases:
            description += f" Also at `POST {aliases[method.full_name]}`."
        if service_text:
            description += f"\n\n{service_text}"
        body_required = bool(schemas.components[method.input.full_name].get("required"))
        content = (
            {"application/x-ndjson": {"schema": output}}
            if method.server_streaming
            else {"application/json": {"schema": output}}
        )
        paths[route_for(method)] = {
            "post": {
                "operationId": method.full_name.replace("/", "."),
                "tags": [method.service],
                "summary": method.name
                + (" (streamed: one JSON object per line)" if method.server_streaming else ""),
                "description": description,
                "x-roles": roles,
                "requestBody": {
                    "required": body_required,
                    "content": {"application/json": {
                        "schema": request,
                        "example": example_for(method, is_date, is_required, _pattern),
                    }},
                },
                "responses": {
                    "200": {"description": "OK", "content": content},
                    "default": {
                        "description": "Error (gRPC status mapped to HTTP)",
                        "content": {"application/json": {"schema": _ref("Error")}},
                    },
                },
            }
        }
    for method in catalog:  # the short routes (/v1/claims/GetClaim): the same operations
        if method.full_name in aliases:
            # A copy under its own operationId (operation ids are unique in a document, so a
            # path-item $ref to the long route would repeat one).
            short = aliases[method.full_name]
            operation = dict(paths[route_for(method)]["post"])
            operation["operationId"] = short.removeprefix("/v1/").replace("/", ".")
            operation["summary"] = f"{operation['summary']} (short route of {route_for(method)})"
            operation["x-short-route-of"] = route_for(method)
            paths[short] = {"post": operation}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "v1",
            "description": "JSON over HTTP for every public RPC, following the protobuf JSON "
            "mapping. Authenticate with `Authorization: Bearer <api key>`. 64-bit integers "
            "(cents) are decimal strings; `null` is refused where a value is expected (omit the "
            "field instead); a bad request names every bad field by its JSON path "
            "(`error.details[].fieldViolations`).",
        },
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }
