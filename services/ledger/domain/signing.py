"""Ed25519 signatures over checkpoint texts; the private key never touches the database."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


def key_id_of(public_key: bytes) -> str:
    """Short fingerprint of a raw public key, printed next to every signature."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    private_key: Ed25519PrivateKey

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_text(cls, text: str) -> Signer:
        """A PEM (PKCS#8) private key, or base64 / hex of the 32-byte seed."""
        stripped = text.strip()
        if stripped.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(stripped.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("the signing key is not an Ed25519 key")
            return cls(key)
        try:
            seed = bytes.fromhex(stripped)
        except ValueError:
            seed = base64.b64decode(stripped, validate=True)
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        return cls.from_seed(seed)

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    def sign(self, body: bytes) -> bytes:
        return self.private_key.sign(body)


def signature_valid(public_key: bytes, body: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, body)
    except (InvalidSignature, ValueError):
        return False
    return True


def seed_to_pem(seed: bytes) -> str:
    """PEM form of a seed, for writing key files (tests, key files for the ledger)."""
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )


def pem_of(public_key: bytes) -> str:
    """The PEM (SubjectPublicKeyInfo) text of a raw Ed25519 public key."""
    return (
        Ed25519PublicKey.from_public_bytes(public_key)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
