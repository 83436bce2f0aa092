"""Claims service: intake, triage, clean-claim checks, resubmission and appeals of OON claims."""
