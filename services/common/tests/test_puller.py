"""The batch puller against a real JetStream: order, and cancellation that is never lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig

from services.common.puller import BatchPuller
from tests.support.plugin import InfraUrls, eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def stream(infra_urls: InfraUrls) -> AsyncIterator[tuple[NATS, str]]:
    nc = await nats.connect(infra_urls.nats_url)
    name = f"PULLER_{uuid.uuid4().hex[:8].upper()}"
    js = nc.jetstream()
    await js.add_stream(name=name, subjects=[f"{name.lower()}.>"])
    await js.add_consumer(name, ConsumerConfig(durable_name="d", ack_policy=AckPolicy.EXPLICIT))
    try:
        yield nc, name
    finally:
        await js.delete_stream(name)
        await nc.close()


async def test_batches_come_in_stream_order(stream: tuple[NATS, str]) -> None:
    nc, name = stream
    js = nc.jetstream()
    for i in range(25):
        await js.publish(f"{name.lower()}.e", str(i).encode())
    puller = BatchPuller(nc, name, "d")
    await puller.start()
    try:
        received: list[int] = []
        while len(received) < 25:
            batch = await puller.fetch(10)
            assert len(batch) <= 10
            received += [int(m.data) for m in batch]
            for m in batch:
                await m.ack()
        assert received == list(range(25))
    finally:
        await puller.stop()


async def test_a_cancel_in_the_same_turn_as_the_servers_answer_is_not_swallowed(
    stream: tuple[NATS, str],
) -> None:
    """Python 3.11's wait_for returned normally here; the ledger's TaskGroup then waited for
    that one stream forever while its siblings had been cancelled."""
    nc, name = stream
    js = nc.jetstream()
    puller = BatchPuller(nc, name, "d")
    await puller.start()
    try:
        fetch = asyncio.create_task(puller.fetch(10, expires=5.0))

        async def waiting() -> bool:  # the long pull request is open on the server
            return (await js.consumer_info(name, "d")).num_waiting >= 1

        await eventually(waiting, timeout=5)
        # The server's "request expired" answer and the cancel land in one loop turn.
        await puller._on_message(Msg(nc, subject="inbox", headers={"Status": "408"}))
        fetch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fetch
    finally:
        await puller.stop()
