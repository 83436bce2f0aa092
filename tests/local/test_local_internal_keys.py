"""`make run` makes the gateway's internal key pair once, keeps it, and gives the private half
to the gateway only."""

from __future__ import annotations

import base64
from pathlib import Path

from deploy.catalog import COMPONENTS
from deploy.local.run import environment_of, internal_key_files
from services.common.internal_auth import InternalSigner, InternalVerifier
from services.common.settings import Settings


def test_the_key_pair_is_made_once_and_only_the_gateway_gets_the_private_key(
    tmp_path: Path,
) -> None:
    signing, verify = internal_key_files(tmp_path)
    assert signing.stat().st_mode & 0o777 == 0o600
    first = signing.read_text()
    assert internal_key_files(tmp_path) == (signing, verify)
    assert signing.read_text() == first, "a restart keeps the key"
    env = {"DATABASE_URL": "postgresql://x", "NATS_URL": "nats://x", "OON_CIPHER_KEY": "k",
           "OON_PHI_KEY": base64.b64encode(bytes(32)).decode(),  # make run generates one
           "OON_INTERNAL_SIGNING_KEY_FILE": str(signing),
           "OON_INTERNAL_VERIFY_KEY_FILE": str(verify)}
    gateway = Settings.from_env("gateway", environment_of(COMPONENTS["gateway"], env))
    token = InternalSigner.from_settings(gateway).token(
        audience="claims", method="/a.B/C", tenant="t", actor="a", roles=[], request_id="r")
    for name in COMPONENTS:
        if name == "gateway":
            continue
        service_env = environment_of(COMPONENTS[name], env)
        assert "OON_INTERNAL_SIGNING_KEY_FILE" not in service_env, name
        settings = Settings.from_env(name, service_env)
        assert settings.internal_signing_key == ""
    claims = Settings.from_env("claims", environment_of(COMPONENTS["claims"], env))
    assert InternalVerifier.from_settings(claims).verify(token, "/a.B/C").tenant == "t"
