"""Duplicate claims refused at save time, race-safe (issue 19 item 4; rules in domain/duplicates).

A new original claim's registration event reserves the keyed token of its duplicate key in the
same statement that saves it (`ServiceApplication._record`, meta `reserves`): of two concurrent
identical submissions exactly one is saved, the other's save is refused by the database. The
refused caller then asks who holds the reservation: an open claim (following replacements) is
the claim it duplicates (ALREADY_EXISTS naming it); a claim no longer open (withdrawn, voided,
or changed since) passes the key on: the caller retries with the reservation that follows the
holder, which again only one claim can take.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol
from uuid import UUID

from services.claims.domain import Claim, ClaimData, ClaimStatus, Frequency
from services.claims.domain import duplicates as rules
from services.common.context import CommandContext
from services.common.errors import AlreadyExists, Conflict, FailedPrecondition
from services.common.phi import PhiKeys
from services.common.recorder import RequestReused


class Store(Protocol):
    def find(self, aggregate_id: UUID, tenant_id: str, kind: type[Claim]) -> Claim | None: ...

    def reservation_holder(self, tenant_id: str, key: str) -> str: ...


class DuplicateClaim(AlreadyExists):
    """The claim duplicates an open claim (`claim_id`)."""

    def __init__(self, claim_id: str) -> None:
        super().__init__(rules.duplicate_message(claim_id))
        self.claim_id = claim_id


class DuplicateGuard:
    def __init__(self, store: Store, keys: PhiKeys) -> None:
        self._store = store
        self._keys = keys

    def token(self, tenant_id: str, data: ClaimData, frequency: Frequency) -> str:
        """The keyed token of the claim's duplicate key; "" for a correction (never checked)."""
        if not rules.is_checked(frequency):
            return ""
        return self._keys.index(tenant_id, rules.KEY_KIND, rules.key_text(data))

    @staticmethod
    def reserve(events: Sequence[Any], token: str, after: str = "") -> None:
        """Make the claim's registration event (the first) reserve the token."""
        if token:
            events[0].meta["reserves"] = rules.reservation(token, after)

    def save_new(
        self, ctx: CommandContext, claim: Claim, events: Sequence[Any], token: str,
        save: Callable[[Sequence[Any]], None],
    ) -> tuple[Claim, bool]:
        """Save a new claim's events reserving its token; (the claim, True), or the existing
        claim of the same request id and False (a retry); DuplicateClaim when an open claim
        holds the key."""
        after = ""
        for _ in range(rules.MAX_GENERATIONS):
            self.reserve(events, token, after)
            try:
                save(events)
                return claim, True
            except RequestReused as exc:
                if not token or exc.request_id != events[0].meta.get("reserves"):
                    raise
                existing = self._store.find(claim.id, ctx.tenant_id, Claim)
                if existing is not None:  # a retry, after its key changed hands
                    existing.has_handled(ctx)
                    return existing, False
                after = self.next_after(ctx, exc.request_id, token)
            except Conflict:
                # A retry of the same request id: the claim exists (the id is the primary key).
                existing = self._store.find(claim.id, ctx.tenant_id, Claim)
                if existing is None:
                    raise
                existing.has_handled(ctx)  # AlreadyExists when the id was used for another claim
                return existing, False
        raise FailedPrecondition(
            f"the claim's duplicate key changed hands over {rules.MAX_GENERATIONS} times")

    def save_changed(
        self, ctx: CommandContext, events: Sequence[Any], token: str,
        save: Callable[[Sequence[Any]], None],
    ) -> None:
        """Save an existing claim's change whose duplicate key is now `token` (its first event
        reserves it); DuplicateClaim when an open claim holds it."""
        after = ""
        for _ in range(rules.MAX_GENERATIONS):
            self.reserve(events, token, after)
            try:
                save(events)
                return
            except RequestReused as exc:
                if exc.request_id != events[0].meta.get("reserves"):
                    raise
                after = self.next_after(ctx, exc.request_id, token)
        raise FailedPrecondition(
            f"the claim's duplicate key changed hands over {rules.MAX_GENERATIONS} times")

    def next_after(self, ctx: CommandContext, key: str, token: str) -> str:
        """The holder of a taken reservation, when it no longer stands (the next reservation
        follows it); DuplicateClaim naming the open claim when it does."""
        holder = self._store.reservation_holder(ctx.tenant_id, key)
        if not holder:
            raise Conflict("a claim with the same duplicate key is being saved; retry")
        open_claim = self._open_claim(ctx, holder, token)
        if open_claim:
            raise DuplicateClaim(open_claim)
        return holder

    def _open_claim(self, ctx: CommandContext, holder: str, token: str) -> str:
        """The open claim that stands for the holder (itself, or its latest replacement) when
        it still has the key; "" when none does."""
        claim = self._store.find(UUID(holder), ctx.tenant_id, Claim)
        seen: set[str] = set()
        while (claim is not None and claim.status is ClaimStatus.REPLACED
               and claim.replaced_by_claim_id and claim.replaced_by_claim_id not in seen):
            seen.add(claim.replaced_by_claim_id)
            claim = self._store.find(UUID(claim.replaced_by_claim_id), ctx.tenant_id, Claim)
        if claim is None or not rules.is_open(claim.status, claim.frequency):
            return ""
        if self.token(ctx.tenant_id, claim.data, Frequency.ORIGINAL) != token:
            return ""  # updated or corrected since: it no longer claims this key
        return str(claim.id)
