"""Identifiers of a patient's account outside the event store: keyed hashes and sealed values.

The event store is encrypted at rest (AES, services/common/eventstore.py). Everywhere else --
read models, NATS messages, the audit ledger -- a patient control number or payer claim number
travels as two things:

* `index(tenant, kind, value)`: HMAC-SHA256 under the deployment's PHI key, per tenant and kind.
  Equal values give equal tokens, so a service can match an 835's CLP01 against claims, or a
  search box can find a claim, without the plain value being stored. Without the key the token
  reveals nothing (a plain SHA-256 of a short account number could be brute-forced).
* `seal(value)` / `unseal(sealed)`: AES-256-GCM, for the few places a person must read the value
  back (a claim's row in a work queue); a read model keeps the sealed text, never the plain one.

The key is `OON_PHI_KEY` (base64, 32 bytes); without it, a key derived from `OON_CIPHER_KEY`
(so every service of a deployment agrees without another secret to distribute).
Rotating it means rebuilding the read models (services/ops/rebuild.py) -- the events keep the
plain values inside the encrypted store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import unicodedata
from collections.abc import Mapping

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# Development-only key (OON_DEV_MODE=1 without OON_PHI_KEY): 32 bytes, not a secret.
DEV_PHI_KEY = base64.b64encode(b"oonledger-dev-only-phi-key-0001!").decode()

# What an identifier is; part of the hashed text so equal numbers of different kinds differ.
PATIENT_CONTROL_NUMBER = "pcn"
PAYER_CLAIM_NUMBER = "payer_claim_number"

_SEAL_PREFIX = "v1:"


class PhiKeyError(ValueError):
    """OON_PHI_KEY is missing or not a base64 32-byte key."""


def key_from_env(env: Mapping[str, str], dev_mode: bool) -> bytes:
    """OON_PHI_KEY; without it, a key derived from OON_CIPHER_KEY (the event store's key);
    without either, the development key in development mode."""
    text = env.get("OON_PHI_KEY", "")
    if not text:
        cipher_key = env.get("OON_CIPHER_KEY", "")
        if cipher_key:
            return derived_from_cipher_key(cipher_key)
        if not dev_mode:
            raise PhiKeyError(
                "OON_PHI_KEY (or OON_CIPHER_KEY) is required: base64 32-byte key for patient "
                "account identifiers outside the event store; set OON_DEV_MODE=1 to use the "
                "development key"
            )
        text = DEV_PHI_KEY
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise PhiKeyError("OON_PHI_KEY is not valid base64") from exc
    if len(key) != 32:
        raise PhiKeyError("OON_PHI_KEY must decode to 32 bytes")
    return key


def derived_from_cipher_key(cipher_key: str) -> bytes:
    """A PHI key of its own from the event store's AES key, when none is set (HMAC over the
    setting's text: the same text gives the same key in every service)."""
    return hmac.new(cipher_key.encode(), b"oonledger phi key v1", hashlib.sha256).digest()


def normalized(value: str) -> str:
    """The form an identifier is compared in: NFC, surrounding blanks removed, upper case.

    Clearinghouses upper-case CLP01/CLM01; a claim keyed in lower case must still match.
    """
    return unicodedata.normalize("NFC", value).strip().upper()


class PhiKeys:
    """The deployment's PHI key, with the two operations built on it."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise PhiKeyError("a PHI key is 32 bytes")
        self._index_key = hmac.new(key, b"oonledger phi index v1", hashlib.sha256).digest()
        self._aead = AESGCM(hmac.new(key, b"oonledger phi seal v1", hashlib.sha256).digest())

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, dev_mode: bool | None = None
    ) -> PhiKeys:
        env = os.environ if env is None else env
        if dev_mode is None:
            dev_mode = env.get("OON_DEV_MODE", "0").lower() in ("1", "true", "yes")
        return cls(key_from_env(env, dev_mode))

    def index(self, tenant_id: str, kind: str, value: str) -> str:
        """The searchable token of an identifier ("" for an empty one): 64 hex characters."""
        value = normalized(value)
        if not value:
            return ""
        text = f"{tenant_id}\x1f{kind}\x1f{value}".encode()
        return hmac.new(self._index_key, text, hashlib.sha256).hexdigest()

    def seal(self, value: str) -> str:
        """The value encrypted (random nonce), as text a read model can store."""
        if not value:
            return ""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), None)
        return _SEAL_PREFIX + base64.b64encode(nonce + sealed).decode()

    def unseal(self, sealed: str) -> str:
        if not sealed:
            return ""
        if not sealed.startswith(_SEAL_PREFIX):
            raise ValueError("not a sealed value")
        raw = base64.b64decode(sealed[len(_SEAL_PREFIX):])
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()
