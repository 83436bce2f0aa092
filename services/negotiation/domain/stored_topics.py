"""Topics of events and snapshots stored before the negotiation domain moved into this package.

eventsourcing resolves a stored topic (`module:qualname`) by importing its module; each old
module path is registered here once so events and snapshots stored under it still load.
"""

from __future__ import annotations

import importlib

from eventsourcing.utils import register_topic

MOVED_MODULES = {
    "services.negotiation.claim_facts": "services.negotiation.domain.claim_facts",
    "services.negotiation.client_policy": "services.negotiation.domain.client_policy",
    "services.negotiation.cooling_off_register": (
        "services.negotiation.domain.cooling_off_register"
    ),
}


def register_moved_modules() -> None:
    for old, new in MOVED_MODULES.items():
        register_topic(old, importlib.import_module(new))


register_moved_modules()
