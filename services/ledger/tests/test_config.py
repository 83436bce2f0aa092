"""The signing key comes from outside the database; stream names come from configuration."""

from __future__ import annotations

import pathlib

import pytest

from services.common.settings import ConfigurationError, Settings
from services.ledger.config import DEV_SIGNING_SEED, LedgerConfig
from services.ledger.domain.signing import Signer, seed_to_pem

SEED = bytes(range(32))


def settings(*, dev: bool = False, **extra: str) -> Settings:
    env = {
        "DATABASE_URL": "postgresql://x",
        "NATS_URL": "nats://x",
        "OON_NAMESPACE": "abc",
        "OON_DEV_MODE": "1" if dev else "0",
        "OON_CIPHER_KEY": "k",
        "OON_PHI_KEY": "A" * 43 + "=",  # 32 zero bytes: required outside dev mode
        **extra,
    }
    return Settings.from_env("ledger", env)


def test_key_from_a_pem_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "ledger.pem"
    path.write_text(seed_to_pem(SEED))
    config = LedgerConfig.from_settings(settings(LEDGER_SIGNING_KEY_FILE=str(path)))
    assert config.signer.public_key == Signer.from_seed(SEED).public_key


def test_key_from_the_environment_as_hex_or_base64() -> None:
    import base64

    for text in (SEED.hex(), base64.b64encode(SEED).decode()):
        config = LedgerConfig.from_settings(settings(LEDGER_SIGNING_KEY=text))
        assert config.signer.public_key == Signer.from_seed(SEED).public_key


def test_no_key_outside_dev_mode_refuses_to_start() -> None:
    with pytest.raises(ConfigurationError, match="LEDGER_SIGNING_KEY"):
        LedgerConfig.from_settings(settings())


def test_dev_mode_uses_the_well_known_key() -> None:
    config = LedgerConfig.from_settings(settings(dev=True))
    assert config.signer.public_key == Signer.from_seed(DEV_SIGNING_SEED).public_key


def test_bad_key_material_is_a_configuration_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigurationError, match="signing key"):
        LedgerConfig.from_settings(settings(LEDGER_SIGNING_KEY="abcd"))
    with pytest.raises(ConfigurationError, match="signing key"):
        LedgerConfig.from_settings(settings(LEDGER_SIGNING_KEY_FILE=str(tmp_path / "absent")))


def test_streams_follow_the_namespace_unless_configured() -> None:
    assert LedgerConfig.from_settings(settings(LEDGER_SIGNING_KEY=SEED.hex())).streams == (
        "ABC_OON_CLAIMS",
        "ABC_OON_NEGOTIATION",
        "ABC_OON_SETTLEMENT",
        "ABC_OON_FEES",
    )
    configured = LedgerConfig.from_settings(
        settings(LEDGER_STREAMS="A, B", LEDGER_SIGNING_KEY=SEED.hex())
    )
    assert configured.streams == ("A", "B")
