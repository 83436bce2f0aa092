"""The ledger public key an auditor trusts: read from a pin file or the command line.

`auditor_cli public-key --pin FILE` writes the key as PEM (SubjectPublicKeyInfo); every
command taking `--public-key` reads a PEM file, a file holding base64 of the raw 32-byte key,
or that base64 inline. Anything else is refused with one line saying what is wrong.
"""

from __future__ import annotations

import binascii
import pathlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.ledger.domain.encoding import unb64
from services.ledger.domain.signing import key_id_of

KEY_BYTES = 32


def load_public_key(text: str) -> bytes:
    """The raw Ed25519 public key; raises ValueError with a one-line reason."""
    path = pathlib.Path(text)
    source = "the --public-key value"
    looks_like_a_path = bool(path.suffix) or "/" in text
    if path.is_file():
        looks_like_a_path = False
        source = str(path)
        data = path.read_bytes()
        if not data.strip():
            raise ValueError(f"{source} is empty (pin the key with `public-key --pin {path}`)")
        if data.lstrip().startswith(b"-----BEGIN"):
            return _from_pem(data, source)
        try:
            text = data.decode("ascii").strip()
        except UnicodeDecodeError:
            raise ValueError(f"{source} is neither PEM nor base64 text") from None
    elif not text.strip():
        raise ValueError("--public-key is empty")
    try:
        raw = unb64(text.strip(), source)
    except ValueError:
        if looks_like_a_path:
            raise ValueError(f"no such key file: {text}") from None
        raise
    if len(raw) != KEY_BYTES:
        raise ValueError(
            f"{source} holds {len(raw)} bytes; an Ed25519 public key is {KEY_BYTES} "
            "(give the PEM file written by `public-key --pin`, or base64 of the raw key)"
        )
    return raw


def _from_pem(data: bytes, source: str) -> bytes:
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError(f"{source} is not a readable PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{source} holds a {type(key).__name__}, not an Ed25519 public key")
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)




def refuse_unless_pinned(served: bytes, pinned: bytes | None) -> None:
    """Raises KeyMismatch when the ledger serves a key other than the pinned one."""
    if pinned is not None and served != pinned:
        raise KeyMismatch(
            f"the ledger serves key {key_id_of(served)}, not the pinned key {key_id_of(pinned)}: "
            "refusing to trust it (if the key was rotated, check the rotation and pin again)"
        )


class KeyMismatch(Exception):
    """The ledger's key is not the one the auditor pinned (a verification failure, exit 1)."""
