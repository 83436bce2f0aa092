"""Who is doing what, on whose behalf, and when: passed explicitly into every domain command."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

# NSA deadlines and settlement due dates count US Eastern calendar days.
EASTERN = ZoneInfo("America/New_York")


def eastern_date(moment: datetime) -> date:
    """The US Eastern calendar date of an instant: the one home of "today" for NSA days."""
    return moment.astimezone(EASTERN).date()


@dataclass(frozen=True)
class CommandContext:
    tenant_id: str
    actor: str
    now: datetime
    roles: frozenset[str] = field(default_factory=frozenset)
    request_id: str = ""
    correlation_id: str = ""
    causation_id: str = ""
    traceparent: str = ""
    tracestate: str = ""
    # SHA-256 of the request that carried `request_id` (services/common/requests.py); "" for
    # commands not started by a client request (reactions, sweeps).
    request_fingerprint: str = ""

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("CommandContext.now must be timezone-aware")

    def meta(self) -> dict[str, str]:
        """The metadata every recorded event carries (who, which request, which trace)."""
        meta = {
            "actor": self.actor,
            "request_id": self.request_id,
            "correlation_id": self.correlation_id or self.request_id,
            "causation_id": self.causation_id,
            "traceparent": self.traceparent,
            "tracestate": self.tracestate,
        }
        if self.request_fingerprint:
            meta["request_fingerprint"] = self.request_fingerprint
        return meta

    @property
    def eastern_today(self) -> date:
        """The command's US Eastern calendar date (NSA days, due dates, overdue)."""
        return eastern_date(self.now)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def with_request(self, request_id: str, fingerprint: str | None = None) -> CommandContext:
        """The same context under another request id (the fingerprint kept unless given)."""
        if fingerprint is None:
            return replace(self, request_id=request_id)
        return replace(self, request_id=request_id, request_fingerprint=fingerprint)

    @classmethod
    def from_event_meta(
        cls, tenant_id: str, meta: Mapping[str, Any], *, actor: str, now: datetime, event_id: str
    ) -> CommandContext:
        """Context for a reaction to another service's event: same correlation, caused by it."""
        return cls(
            tenant_id=tenant_id,
            actor=actor,
            now=now,
            roles=frozenset({"system"}),
            request_id=event_id,
            correlation_id=str(meta.get("correlation_id") or meta.get("request_id") or event_id),
            causation_id=event_id,
            traceparent=str(meta.get("traceparent") or ""),
            tracestate=str(meta.get("tracestate") or ""),
        )
