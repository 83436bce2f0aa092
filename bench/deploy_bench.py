"""What replication costs and how long a node loss interrupts writes, on the deploy topology.

Figures: acknowledged JetStream publishes/s to a 3-node cluster with an R1 stream and with an
R3 stream (the deployment's setting), and the write gap when the R3 stream's leader is killed
(SIGKILL until the next acknowledged publish). Baseline in the same run: the same publish loop
against the single NATS server at NATS_URL.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import nats
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.js.api import StorageType, StreamConfig

from deploy.nats_cluster import NatsCluster

MESSAGES = 3000
IN_FLIGHT = 64
PAYLOAD = b"x" * 600  # about an envelope with its canonical JSON payload


async def publish_rate(nc: NATS, replicas: int) -> float:
    """Acknowledged publishes/s with IN_FLIGHT outstanding, each with a dedupe message id."""
    js = nc.jetstream(timeout=10)
    stream = f"BENCH_{uuid.uuid4().hex[:8].upper()}"
    subject = f"{stream.lower()}.x"
    await js.add_stream(
        StreamConfig(
            name=stream, subjects=[subject], storage=StorageType.FILE, num_replicas=replicas
        )
    )
    window = asyncio.Semaphore(IN_FLIGHT)

    async def one(index: int) -> None:
        async with window:
            await js.publish(subject, PAYLOAD, headers={"Nats-Msg-Id": f"{stream}:{index}"})

    started = time.perf_counter()
    await asyncio.gather(*(one(index) for index in range(MESSAGES)))
    elapsed = time.perf_counter() - started
    await js.delete_stream(stream)
    return MESSAGES / elapsed


async def leader_loss_gap(cluster: NatsCluster, nc: NATS) -> float:
    """Seconds from SIGKILL of an R3 stream's leader to the next acknowledged publish."""
    js = nc.jetstream(timeout=2)
    stream = f"BENCH_{uuid.uuid4().hex[:8].upper()}"
    subject = f"{stream.lower()}.x"
    await js.add_stream(StreamConfig(name=stream, subjects=[subject], num_replicas=3))
    await js.publish(subject, PAYLOAD)
    info = await js.stream_info(stream)
    assert info.cluster is not None and info.cluster.leader
    killed = time.perf_counter()
    cluster.node(info.cluster.leader).kill()
    deadline = killed + 30
    while time.perf_counter() < deadline:
        try:
            await js.publish(subject, PAYLOAD, headers={"Nats-Msg-Id": "after-kill"})
            return time.perf_counter() - killed
        except (NatsError, TimeoutError):
            await asyncio.sleep(0.01)  # election in progress; bounded by the deadline
    raise TimeoutError("no publish acknowledged within 30 s of the leader's loss")


async def run(report) -> None:  # type: ignore[no-untyped-def]
    single = await nats.connect(os.environ["NATS_URL"])
    try:
        report("plain JetStream publish, single server, R1", await publish_rate(single, 1), "msg/s")
    finally:
        await single.close()

    with tempfile.TemporaryDirectory(prefix="oonbench-cluster-") as directory:
        cluster = NatsCluster(Path(directory))
        cluster.start()
        try:
            await cluster.wait_ready()
            nc = await nats.connect(
                servers=cluster.urls.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.1
            )
            try:
                baseline = "plain JetStream publish, single server, R1"
                report(
                    "3-node cluster publish, R1 stream",
                    await publish_rate(nc, 1),
                    "msg/s",
                    baseline,
                )
                report(
                    "3-node cluster publish, R3 stream",
                    await publish_rate(nc, 3),
                    "msg/s",
                    baseline,
                )
                report(
                    "write gap after killing the R3 stream leader",
                    await leader_loss_gap(cluster, nc),
                    "s",
                )
            finally:
                await nc.close()
        finally:
            cluster.stop()
