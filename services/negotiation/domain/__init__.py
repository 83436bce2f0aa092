"""The negotiation domain: aggregates, value objects and NSA rules (pure, no I/O).

Stored events and snapshots name their class by topic (`module:qualname`); the topics written
before the domain became this package still resolve (see `stored_topics.py`).
"""

from services.negotiation.domain import stored_topics as _stored_topics  # noqa: F401
