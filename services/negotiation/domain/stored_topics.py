"""Topics of events and snapshots stored before the negotiation domain became this package.

eventsourcing resolves a stored topic (`module:qualname`) by importing its module. Before, every
negotiation event was nested in `services.negotiation.domain:Negotiation` (the IDR events too),
and the claim facts, client policy and cooling-off register had modules of their own; each old
topic is registered here once, so events and snapshots stored under it still load. The federal
IDR events now belong to `FederalIdrDispute` (same names and fields: the published language is
unchanged), and their old topics resolve to its classes.
"""

from __future__ import annotations

import importlib
from typing import Any

from eventsourcing.utils import register_topic

from services.negotiation.domain.federal_idr_dispute import FederalIdrDispute
from services.negotiation.domain.negotiation import Negotiation

OLD_MODULE = "services.negotiation.domain"
MOVED_MODULES = {
    "services.negotiation.claim_facts": "services.negotiation.domain.claim_facts",
    "services.negotiation.client_policy": "services.negotiation.domain.client_policy",
    "services.negotiation.cooling_off_register": (
        "services.negotiation.domain.cooling_off_register"
    ),
}
MOVED_TO_DISPUTE = (
    "IdrInitiated",
    "IdreSelected",
    "IdrEligibilityDetermined",
    "IdrOfferSubmitted",
    "IdrDetermined",
    "CoolingOffStarted",
    "IdrClosed",
)


def old_topics() -> dict[str, Any]:
    topics: dict[str, Any] = {
        old: importlib.import_module(new) for old, new in MOVED_MODULES.items()
    }
    for name in MOVED_TO_DISPUTE:
        topics[f"{OLD_MODULE}:Negotiation.{name}"] = getattr(FederalIdrDispute, name)
    topics[f"{OLD_MODULE}:Negotiation"] = Negotiation
    return topics


for _topic, _obj in old_topics().items():
    register_topic(_topic, _obj)
