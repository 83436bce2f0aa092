"""The one text encoding of binary values (hashes, keys, signatures, proofs) in ledger files.

Standard base64 with padding everywhere a file carries bytes (bundles, checkpoints, proofs),
which is also what the protos' JSON mapping gives for `bytes`: a value copied from the API's
JSON answer can be pasted into a file unchanged. Hex appears only in human-facing lines
(hash prefixes in a timeline, key ids).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: Any, what: str = "value") -> bytes:
    """Strict decoding; raises ValueError naming `what` on anything but padded base64."""
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not base64 ({exc})") from exc


def hashes_to_json(hashes: Iterable[bytes]) -> list[str]:
    return [b64(h) for h in hashes]


def hashes_from_json(items: Any, what: str = "proof") -> list[bytes]:
    """A JSON list of base64 SHA-256 hashes; raises ValueError on anything else."""
    if not isinstance(items, list):
        raise ValueError(f"{what} must be a JSON list of base64 hashes")
    hashes = [unb64(item, f"{what} hash #{n}") for n, item in enumerate(items, 1)]
    for n, digest in enumerate(hashes, 1):
        if len(digest) != 32:
            raise ValueError(f"{what} hash #{n} is {len(digest)} bytes, not 32")
    return hashes
