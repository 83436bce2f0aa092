"""Adapters: where the claims service meets the outside (gRPC, events, SQL, X12)."""
