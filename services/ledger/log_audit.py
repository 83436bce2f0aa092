"""Verify the whole stored log against its signed checkpoints (operator / auditor with DB read)."""

from __future__ import annotations

from services.ledger.log_verifier import LogVerifier
from services.ledger.reader import LogReader


async def verify_stored_log(reader: LogReader, trusted_key: bytes | None) -> LogVerifier:
    verifier = LogVerifier.for_checkpoints(await reader.checkpoints(), trusted_key)
    async for entry in reader.whole_log():
        verifier.feed(entry)
    verifier.finish()
    return verifier
