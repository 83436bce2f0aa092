"""API key format and hashing (pure): `oon_<key id>_<secret>`, only SHA-256 of the secret is kept.

The secret is 32 random bytes, so a fast hash is enough (no dictionary to attack); the key id
lets the gateway find the row without scanning, and the hash is compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

PREFIX = "oon"
SECRET_BYTES = 32
_KEY = re.compile(r"oon_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


class MalformedKey(ValueError):
    """The presented credential is not an OON Ledger API key."""


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    secret: str

    @property
    def token(self) -> str:
        """What the partner sends after `Bearer ` (shown once, never stored)."""
        return f"{PREFIX}_{self.key_id}_{self.secret}"

    @property
    def secret_hash(self) -> bytes:
        return hash_secret(self.secret)


def issue(id_bytes: bytes, secret_bytes: bytes) -> IssuedKey:
    """Build a key from caller-supplied randomness (8 bytes of id, 32 bytes of secret)."""
    if len(id_bytes) != 8 or len(secret_bytes) != SECRET_BYTES:
        raise ValueError("need 8 id bytes and 32 secret bytes")
    secret = base64.urlsafe_b64encode(secret_bytes).decode().rstrip("=")
    return IssuedKey(key_id=id_bytes.hex(), secret=secret)


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_token(token: str) -> IssuedKey:
    match = _KEY.fullmatch(token.strip())
    if match is None:
        raise MalformedKey("not an OON Ledger API key")
    return IssuedKey(key_id=match.group(1), secret=match.group(2))


def parse_authorization(header: str | None) -> IssuedKey:
    """`Bearer oon_…` → the key; anything else is malformed."""
    if not header:
        raise MalformedKey("missing authorization: Bearer <api key>")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MalformedKey("authorization must be 'Bearer <api key>'")
    return parse_token(token)


def secret_matches(presented: IssuedKey, stored_hash: bytes) -> bool:
    return hmac.compare_digest(presented.secret_hash, stored_hash)
