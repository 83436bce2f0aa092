"""The NATS topology of deploy/ under failure: a 3-node JetStream cluster, a stream replicated
3 ways, publishers that retry with a message id (as the relay does), and the stream leader's
node killed mid-load. Nothing acknowledged is lost, nothing is stored twice, consumers go on."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from deploy.nats_cluster import NatsCluster

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio(loop_scope="session")]

MESSAGES = 3000
KILL_AFTER = 1000
# What a client sees while a stream elects a new leader: timeouts, no responders, API errors.
TRANSIENT = (NatsError, TimeoutError)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    nodes = NatsCluster(tmp_path / "nats")
    nodes.start()
    try:
        await nodes.wait_ready()
        yield nodes
    finally:
        nodes.stop()


async def _connect(cluster: NatsCluster) -> NATS:
    return await nats.connect(
        servers=cluster.urls.split(","), max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )


async def _publish_until_acked(nc: NATS, subject: str, index: int, deadline: float) -> None:
    """Publish one message, retrying with the same id until the stream acknowledges it
    (a retry after a lost ack is absorbed by the stream's dedupe, not stored twice)."""
    js = nc.jetstream(timeout=2)
    loop = asyncio.get_running_loop()
    while loop.time() < deadline:
        try:
            await js.publish(subject, str(index).encode(), headers={"Nats-Msg-Id": f"m-{index}"})
            return
        except TRANSIENT:
            await asyncio.sleep(0.05)  # leader election in progress; retry shortly
    raise AssertionError(f"message {index} not acknowledged before the deadline")


async def test_killing_the_stream_leader_loses_and_duplicates_nothing(cluster: NatsCluster) -> None:
    stream = f"DEPLOYTEST_{uuid.uuid4().hex[:8].upper()}"
    subject = f"{stream.lower()}.events"
    nc = await _connect(cluster)
    tasks: list[asyncio.Task[None]] = []
    try:
        js = nc.jetstream(timeout=5)
        await js.add_stream(
            StreamConfig(
                name=stream,
                subjects=[subject],
                storage=StorageType.FILE,
                num_replicas=3,
                duplicate_window=600,
            )
        )
        info = await js.stream_info(stream)
        assert info.cluster is not None and info.cluster.leader
        assert len(info.cluster.replicas or []) == 2, "an R3 stream has a leader and two replicas"
        await js.add_consumer(
            stream,
            ConsumerConfig(durable_name="reader", ack_policy=AckPolicy.EXPLICIT, ack_wait=5),
        )

        seen: Counter[str] = Counter()
        done = asyncio.Event()

        async def consume() -> None:
            reader = nc.jetstream(timeout=5)
            subscription = await reader.pull_subscribe(subject, durable="reader", stream=stream)
            while not (done.is_set() and len(seen) >= MESSAGES) and not nc.is_closed:
                try:
                    batch = await subscription.fetch(200, timeout=1)
                except TRANSIENT:
                    continue
                for message in batch:
                    seen[message.data.decode()] += 1
                    with contextlib.suppress(*TRANSIENT):
                        await message.ack()

        reader_task = asyncio.create_task(consume())
        tasks.append(reader_task)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        leader = info.cluster.leader
        for index in range(MESSAGES):
            if index == KILL_AFTER:
                cluster.node(leader).kill()
            await _publish_until_acked(nc, subject, index, deadline)
        done.set()
        await asyncio.wait_for(reader_task, timeout=60)

        after = await js.stream_info(stream)
        assert after.cluster is not None and after.cluster.leader != leader, (
            "a new leader took over"
        )
        assert after.state.messages == MESSAGES, "every acknowledged message stored exactly once"
        assert after.state.first_seq == 1 and after.state.last_seq == MESSAGES
        assert set(seen) == {str(index) for index in range(MESSAGES)}, "the consumer got everything"
    finally:
        for task in tasks:
            task.cancel()
        await nc.close()


async def test_a_restarted_node_catches_up(cluster: NatsCluster) -> None:
    stream = f"DEPLOYTEST_{uuid.uuid4().hex[:8].upper()}"
    subject = f"{stream.lower()}.events"
    nc = await _connect(cluster)
    try:
        js = nc.jetstream(timeout=5)
        await js.add_stream(StreamConfig(name=stream, subjects=[subject], num_replicas=3))
        info = await js.stream_info(stream)
        assert info.cluster is not None
        follower = str(next(r.name for r in info.cluster.replicas or []))
        cluster.node(follower).kill()
        deadline = asyncio.get_running_loop().time() + 60
        for index in range(200):
            await _publish_until_acked(nc, subject, index, deadline)
        node = cluster.node(follower)
        node.start(cluster.name, [peer for peer in cluster.nodes if peer is not node])
        await cluster.wait_ready()

        async def follower_current() -> bool:
            state = await js.stream_info(stream)
            replicas = {r.name: r for r in (state.cluster.replicas or [])} if state.cluster else {}
            peer = replicas.get(follower)
            return peer is not None and bool(peer.current) and not peer.offline

        loop = asyncio.get_running_loop()
        catch_up_deadline = loop.time() + 30
        while not await follower_current():
            assert loop.time() < catch_up_deadline, "restarted node did not catch up"
            await asyncio.sleep(0.1)  # polling interval, bounded by the deadline
    finally:
        await nc.close()
