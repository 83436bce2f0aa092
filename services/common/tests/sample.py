"""A tiny aggregate and application used only to exercise the shared infrastructure."""

from __future__ import annotations

from typing import ClassVar

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.eventstore import ServiceApplication
from services.common.ids import deterministic_id


class Tally(TenantAggregate):
    IS_CLAIM_ROOT = True

    class TallyOpened(TenantAggregate.Created):
        label: str
        patient_name: str
        PHI_FIELDS: ClassVar[frozenset[str]] = frozenset({"patient_name"})

    class TallyIncremented(TenantAggregate.Event):
        amount_cents: int

        def apply(self, aggregate: Tally) -> None:
            aggregate.total_cents += self.amount_cents

    def __init__(self, label: str, patient_name: str) -> None:
        self.label = label
        self.patient_name = patient_name
        self.total_cents = 0

    @classmethod
    def open(cls, ctx: CommandContext, label: str, patient_name: str) -> Tally:
        tally_id = deterministic_id(ctx.tenant_id, "tally", ctx.request_id)
        return cls._start(cls.TallyOpened, ctx, id=tally_id, label=label,
                          patient_name=patient_name)

    def increment(self, ctx: CommandContext, amount_cents: int) -> None:
        if self.has_handled(ctx):
            return
        self._record(self.TallyIncremented, ctx, amount_cents=amount_cents)


class TallyApp(ServiceApplication):
    """The bare shared application, with nothing service-specific."""
