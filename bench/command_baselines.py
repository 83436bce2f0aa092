"""Raw baselines for a command under 32 gRPC callers, each in its own process like the service.

- `echo`: a plain grpc.aio server answering each call with its request bytes (the p99 baseline:
  what gRPC in Python costs on this machine, nothing else).
- `insert`: the minimal event-sourced command: a plain grpc.aio server that appends one row
  (the request bytes) durably per call: ordinary table, `synchronous_commit` on, concurrent
  calls group-committed in one transaction and one statement, as our save path does
  (services/common/group_commit.py); it answers after the commit.

`python -m bench.command_baselines serve echo|insert PORT` runs a server;
`python -m bench.command_baselines drive ADDRESS[,ADDRESS] SECONDS` runs 32 callers of the
echo/insert method against the addresses (caller i on address i mod n) and prints
`{"elapsed": s, "latencies": [ms, ...]}`.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from typing import Any

import asyncpg
import grpc

METHOD = "/bench.Baseline/Call"
CALLERS = 32
# A MakeOffer request's size on the wire, so the echo moves the same bytes.
BODY = b"x" * 120


def _identity(data: bytes) -> bytes:
    return data


class GroupInsert:
    """One committer: every row queued while the previous commit ran goes in the next one."""

    def __init__(self, conn: asyncpg.Connection, table: str) -> None:
        self.conn = conn
        self.table = table
        self.queue: list[tuple[bytes, asyncio.Future[None]]] = []
        self.wake = asyncio.Event()

    async def append(self, body: bytes) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.append((body, done))
        self.wake.set()
        await done

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.queue = self.queue, []
            if not batch:
                continue
            try:
                async with self.conn.transaction():
                    await self.conn.execute(
                        f"INSERT INTO {self.table} (body) SELECT unnest($1::bytea[])",
                        [body for body, _ in batch])
            except Exception as exc:  # every waiting caller sees the failure
                for _, done in batch:
                    done.set_exception(exc)
                continue
            for _, done in batch:
                done.set_result(None)


async def serve(kind: str, port: int) -> None:
    server = grpc.aio.server()
    conn: asyncpg.Connection | None = None
    if kind == "insert":
        conn = await asyncpg.connect(os.environ["DATABASE_URL"])
        await conn.execute("SET synchronous_commit = on")
        table = f"bench_cmd_{uuid.uuid4().hex[:8]}"
        await conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, body bytea)")
        group = GroupInsert(conn, table)
        committer = asyncio.create_task(group.run())

        async def handle(request: bytes, context: Any) -> bytes:
            await group.append(request)
            return b"ok"
    else:
        committer = None

        async def handle(request: bytes, context: Any) -> bytes:
            return request

    handler = grpc.method_handlers_generic_handler("bench.Baseline", {
        "Call": grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=_identity, response_serializer=_identity)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("serving", flush=True)
    try:
        await server.wait_for_termination()
    finally:
        if committer is not None:
            committer.cancel()
        if conn is not None:
            await conn.execute(f"DROP TABLE IF EXISTS {group.table}")
            await conn.close()


async def drive(addresses: list[str], seconds: float) -> dict[str, Any]:
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    calls = [c.unary_unary(METHOD, request_serializer=_identity,
                           response_deserializer=_identity) for c in channels]
    for channel in channels:
        await channel.channel_ready()
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def caller(i: int) -> None:
        call = calls[i % len(calls)]
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            await call(BODY, timeout=60)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(caller(i) for i in range(CALLERS)))
    elapsed = time.perf_counter() - started
    for channel in channels:
        await channel.close()
    return {"elapsed": elapsed, "latencies": latencies}


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve(sys.argv[2], int(sys.argv[3])))
    else:
        result = asyncio.run(drive(sys.argv[2].split(","), float(sys.argv[3])))
        print(json.dumps(result))
