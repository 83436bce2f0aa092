"""Adapters of the ledger: gRPC, proto mapping, NATS ingest, the SQL store, the witness, the
checkpointer loop and the report renderers (docs/ledger.md lists each)."""
