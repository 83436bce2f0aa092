"""How the negotiation aggregates' snapshots store the domain's frozen value objects."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import Any, get_type_hints

from eventsourcing.persistence import JSONTranscoder, Transcoding

from services.negotiation.domain.dispute_lines import LINE_TYPES
from services.negotiation.domain.idr_fees import FeeEntry, IdrFeeLedger
from services.negotiation.domain.values import SNAPSHOT_TYPES

# A dispute's IDR money per party (idr_fees.py), in its snapshots.
FEE_SNAPSHOT_TYPES: tuple[type, ...] = (IdrFeeLedger, FeeEntry, *LINE_TYPES)


class ValueTranscoding(Transcoding):
    """A frozen value object of the domain (values.py) in snapshots: its fields by name."""

    def __init__(self, kind: type) -> None:
        self.type = kind
        self.name = f"negotiation.{kind.__name__}"
        self.names = [f.name for f in fields(kind)]
        hints = get_type_hints(kind)
        self.enums = {
            name: hint
            for name, hint in hints.items()
            if isinstance(hint, type) and issubclass(hint, Enum)
        }

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self.names}

    def decode(self, data: dict[str, Any]) -> Any:
        values = {
            name: self.enums[name](value) if name in self.enums else value
            for name, value in data.items()
        }
        return self.type(**values)


def register_snapshot_values(transcoder: JSONTranscoder) -> None:
    for kind in (*SNAPSHOT_TYPES, *FEE_SNAPSHOT_TYPES):
        transcoder.register(ValueTranscoding(kind))
