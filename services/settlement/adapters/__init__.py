"""Adapters: where the settlement service meets the outside (gRPC, events, SQL, X12)."""
