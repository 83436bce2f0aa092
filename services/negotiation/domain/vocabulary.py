"""The negotiation service's named values (stored as strings on events)."""

from __future__ import annotations

from enum import StrEnum

from services.common import auth


class Party(StrEnum):
    PROVIDER = "provider"  # the client the tenant works for
    PAYER = "payer"


class Channel(StrEnum):
    PORTAL = "portal"
    EMAIL = "email"
    FAX = "fax"
    MAIL = "mail"
    PHONE = "phone"


class Route(StrEnum):
    """The dispute route decided by the claims service's triage (same values)."""

    FEDERAL_IDR = "federal_idr"
    STATE_PROCESS = "state_process"
    ALL_PAYER_MODEL = "all_payer_model"
    NOT_ELIGIBLE = "not_eligible"


class NegotiationStatus(StrEnum):
    OPEN = "open"
    AGREED = "agreed"
    IN_IDR = "in_idr"
    DETERMINED = "determined"
    CLOSED = "closed"


class DecisionAction(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    COUNTER = "counter"
    IDR = "idr"


class DecisionStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


class SelectionMethod(StrEnum):
    JOINT = "joint"  # both parties agreed (or silence within 3 BD)
    OBJECTION = "objection"  # the non-initiating party objected and proposed another
    DEFAULT = "default"  # the Departments assigned one


# Who may record negotiation facts, propose a decision, and decide a provider decision point
# (role names: services/common/auth.py).
OFFER_ROLES: tuple[str, ...] = (auth.NEGOTIATOR, auth.ADMIN, auth.SYSTEM)
PROPOSER_ROLES: tuple[str, ...] = (auth.NEGOTIATOR, auth.ADMIN)
DECIDER_ROLES: tuple[str, ...] = (auth.PROVIDER_APPROVER,)

# Offer basis keys a negotiator may cite (DOMAIN.md §1.5; the IDRE may not weigh the last three,
# which are still kept as negotiation evidence).
BASIS_KEYS = frozenset(
    {
        "qpa_cents",
        "percent_of_qpa_bp",
        "ucr_percentile",
        "medicare_multiple_bp",
        "prior_payments_cents",
        "plan_language",
        "law_cited",
    }
)
