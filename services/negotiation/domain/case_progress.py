"""Which deadlines a case still has to act on: shared by the aggregate and the work queue."""

from __future__ import annotations

from dataclasses import dataclass

from services.negotiation.domain.deadlines import (
    CaseAnchors,
    Deadline,
    DeadlineCode,
    DeadlineEngine,
    Extension,
)
from services.negotiation.domain.vocabulary import NegotiationStatus


@dataclass(frozen=True)
class CaseProgress:
    status: str
    anchors: CaseAnchors
    extensions: tuple[Extension, ...] = ()
    idre_selected: bool = False
    provider_idr_offer_submitted: bool = False


def actionable_codes(progress: CaseProgress) -> tuple[DeadlineCode, ...]:
    status = progress.status
    if status == NegotiationStatus.OPEN:
        if progress.anchors.on_notice_sent is None:
            return (DeadlineCode.T1,)
        return (DeadlineCode.T3,)
    if status == NegotiationStatus.IN_IDR:
        if not progress.idre_selected:
            return (DeadlineCode.T4,)
        if not progress.provider_idr_offer_submitted:
            return (DeadlineCode.T6,)
        return (DeadlineCode.T7,)
    if status == NegotiationStatus.AGREED and progress.anchors.settled_after_initiation:
        return (DeadlineCode.T12,)
    if status == NegotiationStatus.DETERMINED:
        return (DeadlineCode.T8,)
    return ()


def actionable_deadlines(progress: CaseProgress, engine: DeadlineEngine) -> list[Deadline]:
    wanted = actionable_codes(progress)
    case = engine.for_case(progress.anchors, progress.extensions)
    return [d for d in case.deadlines if d.code in wanted]


def next_actionable(progress: CaseProgress, engine: DeadlineEngine) -> Deadline | None:
    return min(actionable_deadlines(progress, engine), key=lambda d: d.due, default=None)
