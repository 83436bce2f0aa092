"""The FeeSchedule aggregate: one per client, holding every version of the client's contract."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.common.aggregate import TenantAggregate
from services.common.context import CommandContext
from services.common.errors import InvalidArgument
from services.common.ids import deterministic_id
from services.fees.schedule import (
    FeeTerms,
    ScheduleVersion,
    superseded_by,
    terms_from_record,
    terms_to_record,
    validate_new_version,
    version_in_force,
)


def schedule_id_for(tenant_id: str, client_id: str) -> Any:
    return deterministic_id(tenant_id, "fee-schedule", client_id)


class FeeSchedule(TenantAggregate):
    class FeeScheduleCreated(TenantAggregate.Created):
        client_id: str

    class FeeScheduleVersionPublished(TenantAggregate.Event):
        version: int
        effective_from: dt.date
        effective_until: dt.date | None
        terms: dict[str, Any]
        supersedes_version: int | None

        def apply(self, aggregate: FeeSchedule) -> None:
            aggregate.versions = [
                ScheduleVersion(v.version, v.effective_from, self.effective_from
                                - dt.timedelta(days=1), v.terms)
                if v.version == self.supersedes_version else v
                for v in aggregate.versions
            ]
            aggregate.versions.append(ScheduleVersion(
                self.version, self.effective_from, self.effective_until,
                terms_from_record(self.terms)))
            aggregate.published_at[self.version] = self.timestamp

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.versions: list[ScheduleVersion] = []
        self.published_at: dict[int, dt.datetime] = {}

    @classmethod
    def create(cls, ctx: CommandContext, client_id: str) -> FeeSchedule:
        # Created without the caller's request id, so the same request can then publish.
        return cls._start(cls.FeeScheduleCreated, ctx.with_request(""),
                          id=schedule_id_for(ctx.tenant_id, client_id), client_id=client_id)

    def publish_version(self, ctx: CommandContext, effective_from: dt.date,
                        effective_until: dt.date | None, terms: FeeTerms) -> int:
        """Add a version; returns its number (the existing one when the request is a retry)."""
        if self.has_handled(ctx):
            return self.version_for_request(ctx.request_id)
        violations = validate_new_version(self.versions, effective_from, effective_until, terms)
        if violations:
            raise InvalidArgument(violations)
        number = len(self.versions) + 1
        self._record(self.FeeScheduleVersionPublished, ctx, version=number,
                     effective_from=effective_from, effective_until=effective_until,
                     terms=terms_to_record(terms),
                     supersedes_version=superseded_by(self.versions, effective_from))
        return number

    def version_for_request(self, request_id: str) -> int:
        # The aggregate version of the event that handled the request; versions are published
        # one per event after the creation event.
        return self.request_ids[request_id] - 1

    def in_force_on(self, day: dt.date) -> ScheduleVersion | None:
        return version_in_force(self.versions, day)
