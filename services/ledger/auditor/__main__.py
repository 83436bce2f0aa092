"""`python -m services.ledger.auditor ...`: the auditor's command-line tool (cli.py)."""

from services.ledger.auditor.cli import main

main()
