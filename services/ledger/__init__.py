"""The audit ledger: a tamper-evident, replayable record of every event (docs/ledger.md)."""
