"""The auditor CLI's offline commands: no database, no network."""

from __future__ import annotations

import io
import json
import os
import pathlib
import re
import subprocess
import sys
from datetime import UTC, datetime

from services.ledger.auditor import cli as auditor_cli
from services.ledger.domain.encoding import b64, hashes_to_json
from services.ledger.domain.signing import Signer
from services.ledger.tests.factories import claim_history
from services.ledger.tests.memory_log import MemoryLog

SIGNER = Signer.from_seed(bytes(32))
NOW = datetime(2026, 11, 27, tzinfo=UTC)


async def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return await auditor_cli.run(list(argv), out), out.getvalue()


def write(path: pathlib.Path, document: object) -> str:
    path.write_text(json.dumps(document))
    return str(path)


async def test_consistency_of_two_checkpoint_files(tmp_path: pathlib.Path) -> None:
    log = MemoryLog(origin="cli-test")
    log.append(claim_history("t", "c", 5))
    old = log.checkpoint(SIGNER, NOW)
    log.append(claim_history("t", "d", 9, start=50))
    new = log.checkpoint(SIGNER, NOW)
    proof = hashes_to_json(log.tree.consistency_proof(5, 14))
    args = [
        "consistency",
        "--old",
        write(tmp_path / "old.json", old.to_json()),
        "--new",
        write(tmp_path / "new.json", new.to_json()),
        "--public-key",
        b64(SIGNER.public_key),
    ]
    code, text = await cli(*args, "--proof", write(tmp_path / "p.json", proof))
    assert code == 0 and "extends the log of size 5" in text

    forked = MemoryLog(origin="cli-test")
    forked.append(claim_history("t", "x", 5))
    fork_old = forked.checkpoint(SIGNER, NOW)
    args[2] = write(tmp_path / "fork.json", fork_old.to_json())
    code, text = await cli(*args, "--proof", str(tmp_path / "p.json"))
    assert code == 1 and "history was rewritten" in text


async def test_verify_bundle_prints_the_timeline(tmp_path: pathlib.Path) -> None:
    log = MemoryLog(origin="cli-test")
    history = claim_history("t", "c", 3)
    log.append(history)
    bundle = log.export("t", "c", history[0].chain, SIGNER, NOW)
    path = write(tmp_path / "b.json", bundle.to_json())
    code, text = await cli(
        "verify-bundle", path, "--public-key", b64(SIGNER.public_key), "--timeline"
    )
    assert code == 0 and text.count("OfferMade") == 3 and "bundle VERIFIED" in text


async def test_usage_errors_exit_with_two(tmp_path: pathlib.Path) -> None:
    assert (await cli("verify-bundle", str(tmp_path / "absent.json")))[0] == 2
    assert (await cli("no-such-command"))[0] == 2
    code, text = await cli("consistency", "--old", str(tmp_path / "x.json"))
    assert code == 2 and "--new and --proof" in text


def documented_modules() -> set[str]:
    """Every `python -m services.ledger...` module the README and docs/ledger.md tell people to
    run (the `A=` lines and the offline example)."""
    root = pathlib.Path(__file__).parents[3]
    found: set[str] = set()
    for doc in (root / "README.md", root / "docs" / "ledger.md"):
        found.update(re.findall(r"python -m (services\.ledger[\w.]*)", doc.read_text("utf-8")))
    return found


def test_the_documented_auditor_command_runs_as_written(tmp_path: pathlib.Path) -> None:
    modules = documented_modules()
    assert modules == {"services.ledger.auditor"}
    log = MemoryLog(origin="cli-test")
    history = claim_history("t", "c", 2)
    log.append(history)
    bundle = log.export("t", "c", history[0].chain, SIGNER, NOW)
    path = write(tmp_path / "b.json", bundle.to_json())
    root = pathlib.Path(__file__).parents[3]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    for module in modules:
        done = subprocess.run(
            [sys.executable, "-m", module, "verify-bundle", path, "--public-key",
             b64(SIGNER.public_key)],
            capture_output=True, text=True, env=env, cwd=root, timeout=60, check=False,
        )
        assert done.returncode == 0 and "bundle VERIFIED" in done.stdout, done.stderr
