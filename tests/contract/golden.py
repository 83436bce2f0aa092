"""Golden payloads: the dict view of each integration event's contract message, per version.

`tests/contract/golden/<service>/<Event>.v<N>.json` is what the producer must publish and what
every consumer must accept. Changing one is changing the published language: do it with the
contract (and a new version when a consumer could misread the change).
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from oonledger.common.v1 import field_pb2
from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common.consumer import Delivery
from services.common.contracts import contract_for, publish_fields
from services.common.wire import decode_payload, to_timestamp

from .producers import CLAIM_ID

GOLDEN = Path(__file__).parent / "golden"
TENANT = "tenant-golden"
# From the clock (microseconds): never the id of an earlier run's event in a shared stream.
_IDS = itertools.count(time.time_ns() // 1000)
AT_RECEIPT = datetime(2026, 10, 1, 14, 31, tzinfo=UTC)


def golden_files() -> dict[tuple[str, str, int], Path]:
    found = {}
    for path in sorted(GOLDEN.glob("*/*.v*.json")):
        event_type, _, version = path.name.removesuffix(".json").rpartition(".v")
        found[(path.parent.name, event_type, int(version))] = path
    return found


def load(service: str, event_type: str, version: int = 1) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (GOLDEN / service / f"{event_type}.v{version}.json").read_text(encoding="utf-8"))
    return document


def envelope(service: str, event_type: str, version: int = 1, *, claim_id: str = CLAIM_ID,
             tenant_id: str = TENANT, fields: dict[str, Any] | None = None) -> EventEnvelope:
    """The golden event as its producer's relay would publish it."""
    published = publish_fields(service, event_type, fields or load(service, event_type, version))
    notification_id = next(_IDS)
    now = to_timestamp(datetime(2026, 10, 1, 14, 30, tzinfo=UTC))
    return EventEnvelope(
        event_id=f"{service}:{notification_id}", service=service,
        notification_id=notification_id, tenant_id=tenant_id, claim_id=claim_id,
        aggregate_type=event_type, aggregate_id=claim_id, aggregate_version=1,
        event_type=event_type, schema_version=published.schema_version, occurred_at=now,
        recorded_at=now, actor="golden", request_id=f"golden-{notification_id}",
        correlation_id=f"golden-{notification_id}", payload=published.payload,
        payload_content_type=published.content_type)


def delivery(service: str, event_type: str, version: int = 1, **kwargs: Any) -> Delivery:
    env = envelope(service, event_type, version, **kwargs)
    return Delivery(env, decode_payload(env), AT_RECEIPT)


def violations(descriptor: Descriptor, golden: dict[str, Any], prefix: str = "") -> list[str]:
    """Where a golden payload and a contract disagree: a field one side has and the other not,
    a required fact left empty. Empty when the golden is a faithful instance of the contract."""
    found: list[str] = []
    fields = descriptor.fields_by_name
    for name in sorted(set(golden) - set(fields)):
        found.append(f"{prefix}{name}: in the golden payload, not in {descriptor.full_name}")
    for name in sorted(set(fields) - set(golden)):
        found.append(f"{prefix}{name}: in {descriptor.full_name}, not in the golden payload")
    for name, field in fields.items():
        if name not in golden:
            continue
        value = golden[name]
        required = field.GetOptions().Extensions[field_pb2.required]
        if required and not value:
            found.append(f"{prefix}{name}: required, empty in the golden payload")
        if field.type == FieldDescriptor.TYPE_MESSAGE and value:
            for i, item in enumerate(value if field.is_repeated else [value]):
                where = f"{prefix}{name}[{i}]." if field.is_repeated else f"{prefix}{name}."
                found.extend(violations(field.message_type, item, where))
    return found


def descriptor_of(service: str, event_type: str, version: int = 1) -> Descriptor:
    contract = contract_for(service, event_type, version)
    assert contract is not None, f"{service} has no contract for {event_type} v{version}"
    return contract.message_class.DESCRIPTOR
