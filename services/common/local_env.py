"""The settings of the system `make run` started, for the command-line tools run beside it.

`make run` writes `<data dir>/local.env` (`.oonledger/local.env` by default, mode 0600) once its
servers and services are up, and removes it when it stops. A tool run from the checkout
(`python -m gateway.admin`, the operator commands, a read-model rebuild) calls `local_settings`:
what its environment sets wins; what it lacks is taken from that file, and the tool says on
standard error which system it is talking to. Without the file (nothing running locally, or a
deployment) the environment alone counts, as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

FILE_NAME = "local.env"
REPO_ROOT = Path(__file__).resolve().parents[2]

# What a tool may need from the running system; never anything else of the launcher's env.
SHARED_VARIABLES = (
    "DATABASE_URL", "NATS_URL", "OON_NAMESPACE", "OON_DEV_MODE", "OON_CIPHER_KEY", "OON_PHI_KEY",
    "OON_INTERNAL_SIGNING_KEY_FILE", "OON_INTERNAL_VERIFY_KEY_FILE", "LEDGER_SIGNING_KEY_FILE",
    "GATEWAY_ADDR", "GATEWAY_HTTP_PORT", "CLAIMS_ADDR", "NEGOTIATION_ADDR", "SETTLEMENT_ADDR",
    "FEES_ADDR", "LEDGER_ADDR",
)


def local_env_path(environ: Mapping[str, str]) -> Path:
    data_dir = environ.get("OON_DATA_DIR", "")
    return (Path(data_dir) if data_dir else REPO_ROOT / ".oonledger") / FILE_NAME


def write_local_env(data_dir: Path, env: Mapping[str, str]) -> Path:
    """Record where the running system is (called by the launcher once everything serves)."""
    path = data_dir / FILE_NAME
    lines = [f"{name}={env[name]}" for name in SHARED_VARIABLES if env.get(name)]
    text = "# written by `make run` while it runs (services/common/local_env.py)\n"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(text + "\n".join(lines) + "\n")
    temporary.chmod(0o600)
    temporary.replace(path)
    return path


def remove_local_env(data_dir: Path) -> None:
    (data_dir / FILE_NAME).unlink(missing_ok=True)


def read_local_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            if name in SHARED_VARIABLES:
                values[name] = value
    return values


def local_settings(
    environ: Mapping[str, str] | None = None, *, tool: str, err: TextIO | None = None
) -> dict[str, str]:
    """`environ` completed from the running local system's file, saying so on `err`."""
    env = dict(os.environ if environ is None else environ)
    path = local_env_path(env)
    if not path.is_file():
        return env
    found = read_local_env(path)
    missing = {name: value for name, value in found.items() if not env.get(name)}
    if not missing:
        return env
    env.update(missing)
    where = ", ".join(
        f"{label} {env[name]}" for label, name in (
            ("database", "DATABASE_URL"), ("nats", "NATS_URL"), ("gateway", "GATEWAY_ADDR"))
        if name in missing)
    print(f"{tool}: using the local system started by `make run` ({path}): {where}",
          file=err or sys.stderr)
    return env
