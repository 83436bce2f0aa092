"""The exceptions domain and application code raise; the gRPC layer maps each to one status."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class DomainError(Exception):
    """Base of every expected, client-visible failure."""


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class InvalidArgument(DomainError):
    """Bad fields; maps to INVALID_ARGUMENT with google.rpc.BadRequest field violations."""

    def __init__(self, violations: Iterable[FieldViolation] | str, field: str | None = None):
        if isinstance(violations, str):
            violations = [FieldViolation(field or "", violations)]
        self.violations = list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        super().__init__(summary or "invalid argument")


class NotFound(DomainError):
    """No such resource for this tenant (another tenant's resource is also "not found")."""


class AlreadyExists(DomainError):
    """The resource exists and the request may not overwrite it."""


class FailedPrecondition(DomainError):
    """A business rule forbids the command in the current state (the message cites the rule)."""


class EventTooLarge(FailedPrecondition):
    """A new event's wire message would exceed the size budget (OON_MAX_EVENT_BYTES): the broker
    could refuse it, so the command is refused before anything is stored."""


class PermissionDenied(DomainError):
    """The caller's roles do not allow the command."""


class DataLoss(DomainError):
    """Stored data was found altered or lost and the service refuses to vouch for it (the
    audit ledger's checkpointer); maps to DATA_LOSS."""


class Conflict(DomainError):
    """Concurrent modification (version conflict on save); the caller re-reads and retries."""


class Violations:
    """Collects field violations so a request reports every bad field at once."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self._items.append(FieldViolation(field, description))

    def check(self, ok: bool, field: str, description: str) -> bool:
        if not ok:
            self.add(field, description)
        return ok

    def extend(self, other: Iterable[FieldViolation], prefix: str = "") -> None:
        for v in other:
            self._items.append(FieldViolation(f"{prefix}{v.field}", v.description))

    def __bool__(self) -> bool:
        return bool(self._items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._items)

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidArgument(self._items)


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed; the process must not start."""
