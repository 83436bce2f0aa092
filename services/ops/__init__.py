"""Operator tools: reconciliation counts, dead-letter replay, read-model rebuilds."""
