"""Ledger-specific settings (LEDGER_* variables, read once at start-up)."""

from __future__ import annotations

import base64
import logging
import pathlib
from dataclasses import dataclass

from services.common.settings import ConfigurationError, Settings
from services.ledger.domain.signing import Signer

log = logging.getLogger(__name__)

UPSTREAM_SERVICES = ("claims", "negotiation", "settlement", "fees")
# Well-known seed, accepted only with OON_DEV_MODE=1: checkpoints signed with it prove nothing.
DEV_SIGNING_SEED = b"oonledger-dev-only-signing-key!!"


@dataclass(frozen=True)
class LedgerConfig:
    signer: Signer
    origin: str
    streams: tuple[str, ...]
    durable: str
    batch_size: int
    checkpoint_seconds: float
    pool_size: int
    retired_keys: tuple[bytes, ...] = ()
    # How long a pulled event may stay unacknowledged before JetStream hands it out again:
    # after the appender replica dies, its in-flight events come back this much later.
    ack_wait_seconds: float = 10.0
    # An append-only JSON-lines copy of every witnessed checkpoint (adapters/witness.py).
    witness_file: pathlib.Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> LedgerConfig:
        extra = settings.extra
        streams_text = extra.get("LEDGER_STREAMS", "")
        streams = tuple(s.strip() for s in streams_text.split(",") if s.strip()) or tuple(
            settings.stream_for(service) for service in UPSTREAM_SERVICES
        )
        try:
            batch = int(extra.get("LEDGER_BATCH_SIZE", "500"))
            interval = float(extra.get("LEDGER_CHECKPOINT_SECONDS", "1.0"))
            ack_wait = float(extra.get("LEDGER_ACK_WAIT_SECONDS", "10"))
        except ValueError as exc:
            raise ConfigurationError(f"ledger: {exc}") from exc
        return cls(
            signer=_signer(settings),
            origin=extra.get("LEDGER_LOG_ORIGIN", f"oonledger/{settings.schema}"),
            streams=streams,
            durable=extra.get("LEDGER_DURABLE", "ledger-audit"),
            batch_size=batch,
            checkpoint_seconds=interval,
            pool_size=max(4, settings.db_pool_size),
            retired_keys=_retired_keys(extra.get("LEDGER_RETIRED_PUBLIC_KEYS", "")),
            ack_wait_seconds=ack_wait,
            witness_file=(
                pathlib.Path(extra["LEDGER_WITNESS_FILE"])
                if extra.get("LEDGER_WITNESS_FILE") else None
            ),
        )


def _signer(settings: Settings) -> Signer:
    """The checkpoint key comes from outside the database: a file or the environment."""
    extra = settings.extra
    try:
        if extra.get("LEDGER_SIGNING_KEY_FILE"):
            path = pathlib.Path(extra["LEDGER_SIGNING_KEY_FILE"])
            return Signer.from_text(path.read_text(encoding="utf-8"))
        if extra.get("LEDGER_SIGNING_KEY"):
            return Signer.from_text(extra["LEDGER_SIGNING_KEY"])
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"ledger: cannot load the signing key: {exc}") from exc
    if settings.dev_mode:
        log.warning("ledger: using the well-known development signing key (OON_DEV_MODE=1)")
        return Signer.from_seed(DEV_SIGNING_SEED)
    raise ConfigurationError(
        "ledger: LEDGER_SIGNING_KEY_FILE or LEDGER_SIGNING_KEY (Ed25519) is required"
    )


def _retired_keys(text: str) -> tuple[bytes, ...]:
    """Public keys of rotated-out signing keys (hex or base64 of 32 raw bytes), comma-separated."""
    keys = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            raw = bytes.fromhex(item)
        except ValueError:
            try:
                raw = base64.b64decode(item, validate=True)
            except ValueError as exc:
                raise ConfigurationError(f"ledger: bad retired public key {item!r}") from exc
        if len(raw) != 32:
            raise ConfigurationError(f"ledger: retired public key {item!r} is not 32 bytes")
        keys.append(raw)
    return tuple(keys)
