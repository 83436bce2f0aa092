"""Cooling-off periods per (initiating party, other party, service family), across cases.

One small aggregate per key, saved in the same transaction as the determination that starts a
period, so an initiation on another case reads a consistent answer.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.ids import deterministic_id
from services.negotiation.domain.cooling_off import CoolingOffPeriod
from services.negotiation.domain.values import CoolingOffEntry


def register_id(tenant_id: str, initiating_key: str, other_key: str, family: str) -> UUID:
    return deterministic_id(tenant_id, "cooling-off", f"{initiating_key}|{other_key}|{family}")


class CoolingOffRegister(TenantAggregate):
    class RegisterOpened(TenantAggregate.Created):
        initiating_party_key: str
        other_party_key: str
        service_family: str

    class PeriodRecorded(TenantAggregate.Event):
        dispute_number: str
        starts_on: date
        ends_on: date
        negotiation_id: str

        def apply(self, aggregate: CoolingOffRegister) -> None:
            aggregate.periods.append(
                CoolingOffEntry(self.dispute_number, self.starts_on, self.ends_on)
            )

    def __init__(self, initiating_party_key: str, other_party_key: str, service_family: str):
        self.initiating_party_key = initiating_party_key
        self.other_party_key = other_party_key
        self.service_family = service_family
        self.periods: list[CoolingOffEntry] = []

    @classmethod
    def open(
        cls, ctx: CommandContext, initiating_key: str, other_key: str, family: str
    ) -> CoolingOffRegister:
        register: CoolingOffRegister = cls._start(
            cls.RegisterOpened,
            ctx,
            id=register_id(ctx.tenant_id, initiating_key, other_key, family),
            initiating_party_key=initiating_key,
            other_party_key=other_key,
            service_family=family,
        )
        return register

    def record(
        self,
        ctx: CommandContext,
        *,
        dispute_number: str,
        starts_on: date,
        ends_on: date,
        negotiation_id: str,
    ) -> None:
        if any(p.dispute_number == dispute_number for p in self.periods):
            return  # a batched determination reports the same dispute once
        self._record(
            self.PeriodRecorded,
            ctx,
            dispute_number=dispute_number,
            starts_on=starts_on,
            ends_on=ends_on,
            negotiation_id=negotiation_id,
        )

    def as_periods(self) -> list[CoolingOffPeriod]:
        return [
            CoolingOffPeriod(
                self.initiating_party_key,
                self.other_party_key,
                self.service_family,
                p.starts_on,
                p.ends_on,
                p.dispute_number,
            )
            for p in self.periods
        ]
