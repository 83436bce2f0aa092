"""Fees service: contingency and flat fees computed from settlement payments, invoiced."""
