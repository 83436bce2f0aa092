"""Settlement loads many aggregates in one query with the shared loader (services/common)."""

from services.common.bulk_loading import load_many

__all__ = ["load_many"]
