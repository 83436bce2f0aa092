"""Shared infrastructure of every OON Ledger service (see README.md in this folder)."""
