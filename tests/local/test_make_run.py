"""`make run` end to end: the launcher starts the embedded stack and every service, the demo
walks the whole journey through the gateway, and everything stops cleanly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from deploy.catalog import COMPONENTS
from services.common.localservers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_brings_the_system_up_runs_the_demo_and_stops() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "NATS_URL", "OON_NAMESPACE", "OON_CIPHER_KEY")}
    for component in COMPONENTS.values():
        env[component.port_variable] = str(free_port())  # never the defaults a developer uses
    env["GATEWAY_HTTP_PORT"] = str(free_port())
    data_dir = Path(tempfile.mkdtemp(prefix="oon-make-run-"))
    data_dir.chmod(0o755)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "deploy.local.run", "--data-dir", str(data_dir),
             "--exit-after-demo"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=420,
        )
        logs = {c: (data_dir / "logs" / f"{c}.log").read_text() for c in COMPONENTS}
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    for component in COMPONENTS:
        assert f"  {component:<12} grpc 127.0.0.1:" in output, component
    for step in ("1. bulk claim import", "4. open negotiation", "5. federal IDR",
                 "6. the payer's 835", "7. contingency fees", "8. an auditor"):
        assert step in output, step
    assert "2000/2000 claims committed (0 rejected)" in output
    assert "SettlementAgreed" in output and "IdrDetermined" in output
    assert "IMPORT_STATUS_POSTED" in output
    assert "offline verification PASSED" in output
    assert "audit verification: PASSED" in output
    # Every service process exited on its own after SIGTERM (logs end with its stop line).
    for component, log in logs.items():
        assert f"{component} stopping" in log, component
