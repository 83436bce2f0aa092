"""The auditor's tool, a separate entry point (`python -m services.ledger.auditor`): it talks to
the ledger through the partner gateway (or offline, to files and a database read replica).

cli.py          the commands, their arguments and exit statuses
client.py       the gRPC calls and what the auditor checks in each answer
trusted_key.py  the pinned ledger key (PEM or base64), read and compared
"""
