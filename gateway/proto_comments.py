"""The comments of the .proto contracts, by element name, for the OpenAPI descriptions.

The generated Python modules drop source information, so scripts/gen_proto.py also writes a
descriptor set with `--include_source_info` (`oonledger/descriptors.binpb` beside the generated
code); this module reads its comments once.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Mapping, Sequence

from google.protobuf import descriptor_pb2

DESCRIPTOR_SET = "descriptors.binpb"

# Field numbers in descriptor.proto that lead from a file to the elements we describe.
_MESSAGE, _ENUM, _SERVICE = 4, 5, 6  # FileDescriptorProto
_FIELD, _NESTED_MESSAGE, _NESTED_ENUM = 2, 3, 4  # DescriptorProto
_ENUM_VALUE = 2  # EnumDescriptorProto
_METHOD = 2  # ServiceDescriptorProto


def _clean(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines()]
    return "\n".join(lines).strip()


def _names(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    """Source-info path → full name of every message, field, enum, value, service, method."""
    names: dict[tuple[int, ...], str] = {}

    def enum(path: tuple[int, ...], prefix: str, item: descriptor_pb2.EnumDescriptorProto) -> None:
        full = f"{prefix}.{item.name}"
        names[path] = full
        for k, value in enumerate(item.value):
            # Enum values are siblings of their enum in protobuf scoping.
            names[(*path, _ENUM_VALUE, k)] = f"{prefix}.{value.name}"

    def message(path: tuple[int, ...], prefix: str, item: descriptor_pb2.DescriptorProto) -> None:
        full = f"{prefix}.{item.name}"
        names[path] = full
        for k, field in enumerate(item.field):
            names[(*path, _FIELD, k)] = f"{full}.{field.name}"
        for k, nested in enumerate(item.nested_type):
            message((*path, _NESTED_MESSAGE, k), full, nested)
        for k, nested_enum in enumerate(item.enum_type):
            enum((*path, _NESTED_ENUM, k), full, nested_enum)

    package = file.package
    for i, item in enumerate(file.message_type):
        message((_MESSAGE, i), package, item)
    for i, enum_item in enumerate(file.enum_type):
        enum((_ENUM, i), package, enum_item)
    for i, service in enumerate(file.service):
        full = f"{package}.{service.name}"
        names[(_SERVICE, i)] = full
        for k, method in enumerate(service.method):
            names[(_SERVICE, i, _METHOD, k)] = f"{full}.{method.name}"
    return names


def comments_of(files: Sequence[descriptor_pb2.FileDescriptorProto]) -> dict[str, str]:
    """Full name → its leading comment (else its trailing comment)."""
    found: dict[str, str] = {}
    for file in files:
        names = _names(file)
        for location in file.source_code_info.location:
            name = names.get(tuple(location.path))
            text = _clean(location.leading_comments) or _clean(location.trailing_comments)
            if name is not None and text:
                found[name] = text
    return found


@functools.cache
def proto_comments() -> Mapping[str, str]:
    """The comments of every contract; fails loudly when the descriptor set is missing."""
    resource = importlib.resources.files("oonledger") / DESCRIPTOR_SET
    try:
        data = resource.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"oonledger/{DESCRIPTOR_SET} is missing from the generated code: run "
            "scripts/gen_proto.py (make proto)") from None
    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    return comments_of([f for f in files if f.package.startswith("oonledger.")])
