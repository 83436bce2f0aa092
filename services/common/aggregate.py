"""Base class for every event-sourced aggregate: tenant ownership, event metadata, idempotency.

Infrastructure only — no business rules. Subclasses declare past-tense event classes nested in
the aggregate and trigger them with `_record(EventClass, ctx, **fields)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.common.context import CommandContext
from services.common.errors import AlreadyExists


class TenantAggregate(Aggregate):
    """An aggregate owned by one tenant; every event carries who/why metadata (`meta`)."""

    class Event(Aggregate.Event):
        meta: dict[str, str]
        # Fields holding personal health information: encrypted at rest (as the whole stored
        # event is) and removed from the wire payload published to other services.
        PHI_FIELDS: ClassVar[frozenset[str]] = frozenset()

        def apply(self, aggregate: Any) -> None:
            """Mutate the aggregate's state; events that only record a fact need not override."""

        def mutate(self, aggregate: Any) -> Any:
            aggregate = super().mutate(aggregate)
            if aggregate is not None:
                aggregate._remember_request(
                    self.meta.get("request_id"),
                    self.originator_version,
                    self.meta.get("request_fingerprint", ""),
                )
            return aggregate

    class Created(Event, Aggregate.Created):
        tenant_id: str

        def mutate(self, aggregate: Any) -> Any:
            # Set before the base class records the request id; subclasses' __init__ need not
            # declare tenant_id or meta.
            created = super().mutate(aggregate)
            created.tenant_id = self.tenant_id
            return created

    # No runtime class-level annotations here: eventsourcing would turn them into __init__
    # parameters. These are set by `Created.mutate` and `_remember_request`.
    if TYPE_CHECKING:
        tenant_id: str
        request_ids: dict[str, int]
        request_fingerprints: dict[str, str]

    def _remember_request(self, request_id: str | None, version: int, fingerprint: str) -> None:
        if "request_ids" not in self.__dict__:
            self.request_ids = {}
        if "request_fingerprints" not in self.__dict__:
            self.request_fingerprints = {}
        if request_id:
            self.request_ids[request_id] = version
            if fingerprint:
                self.request_fingerprints.setdefault(request_id, fingerprint)

    @property
    def claim_ref(self) -> str:
        """The claim this aggregate belongs to (audit chains are per claim); "" when none.

        A claim's own aggregate sets `IS_CLAIM_ROOT = True`; others keep a `claim_id` attribute.
        """
        if self._is_claim_root():
            return str(self.id)
        return str(getattr(self, "claim_id", "") or "")

    def recorded_fingerprint(self, request_id: str) -> str:
        """The fingerprint of the request recorded under `request_id` ("" when none)."""
        return str(self.__dict__.get("request_fingerprints", {}).get(request_id, ""))

    def has_handled(self, ctx: CommandContext) -> bool:
        """True when this command's request id was already recorded (a retry: do nothing).

        AlreadyExists when the id was recorded for a different request (another fingerprint):
        answering the first request's result would hide that the second did nothing.
        """
        if not ctx.request_id or ctx.request_id not in self.request_ids:
            return False
        recorded = self.recorded_fingerprint(ctx.request_id)
        if recorded and ctx.request_fingerprint and recorded != ctx.request_fingerprint:
            raise AlreadyExists(
                f"request_id {ctx.request_id} was already used for a different request"
            )
        return True

    def _record(self, event_class: type[Event], ctx: CommandContext, **fields: Any) -> None:
        if ctx.tenant_id != self.tenant_id:
            raise PermissionError("command context tenant does not own this aggregate")
        self.trigger_event(
            event_class,
            timestamp=ctx.now,
            meta=_event_meta(ctx, self.tenant_id, self.claim_ref),
            **fields,
        )

    @classmethod
    def _start(
        cls, event_class: type[Created], ctx: CommandContext, *, id: UUID, **fields: Any
    ) -> Any:
        """Create a new aggregate from its creation event (id chosen by the application)."""
        claim_ref = str(fields.get("claim_id") or (id if cls._is_claim_root() else ""))
        return cls._create(
            event_class,
            id=id,
            timestamp=ctx.now,
            tenant_id=ctx.tenant_id,
            meta=_event_meta(ctx, ctx.tenant_id, claim_ref),
            **fields,
        )

    @classmethod
    def _is_claim_root(cls) -> bool:
        return bool(getattr(cls, "IS_CLAIM_ROOT", False))


def _event_meta(ctx: CommandContext, tenant_id: str, claim_ref: str) -> dict[str, str]:
    meta = ctx.meta()
    meta["tenant_id"] = tenant_id
    meta["claim_id"] = claim_ref
    return meta
