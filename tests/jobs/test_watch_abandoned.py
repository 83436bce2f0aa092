"""A partner that stops watching a job in the middle (closes the stream, drops the HTTP
connection) leaves nothing behind: the gateway and the service close their side of the
stream where it was opened, so no ERROR is logged for it (CI once showed opentelemetry's
"Failed to detach context" when the garbage collector closed an abandoned stream later)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import uuid

import pytest

from oonledger.claims.v1 import claims_pb2 as pb
from tests.e2e.claim_files import many_claims_837
from tests.e2e.import_jobs import control_number, start
from tests.e2e.journey import Vendor

pytestmark = pytest.mark.asyncio(loop_scope="session")


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


async def collected() -> None:
    """Whatever was abandoned is collected (and finalised on the loop) now."""
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0.2)


async def test_a_watch_abandoned_over_grpc_closes_without_an_error(stack, channel, caplog):
    vendor = await Vendor.enrol(stack, channel)
    content = many_claims_837(2, "WA", control_number())
    started = await start(vendor, content, f"client-{uuid.uuid4().hex[:6]}")  # uploading:
    caplog.set_level(logging.WARNING)  # the watch stays open until the caller leaves
    for _ in range(3):
        call = vendor.claims.WatchImportJob(
            pb.WatchImportJobRequest(job_id=started.job.job_id), metadata=vendor.md("auditor"))
        first = await call.read()
        assert first.job.job_id == started.job.job_id
        call.cancel()
        del call
    await collected()
    assert errors(caplog) == []


async def test_a_watch_abandoned_over_http_closes_without_an_error(stack, channel, caplog):
    vendor = await Vendor.enrol(stack, channel)
    content = many_claims_837(2, "WH", control_number())
    started = await start(vendor, content, f"client-{uuid.uuid4().hex[:6]}")
    caplog.set_level(logging.WARNING)
    body = json.dumps({"jobId": started.job.job_id}).encode()
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", stack.http_port)
        writer.write(
            b"POST /v1/claims/WatchImportJob HTTP/1.1\r\nHost: localhost\r\n"
            + f"Authorization: Bearer {vendor.keys['auditor']}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        assert head.startswith(b"HTTP/1.1 200"), head
        seen = b""
        while started.job.job_id.encode() not in seen:  # the first update (NDJSON, chunked)
            seen += await asyncio.wait_for(reader.read(4096), 30)
        writer.close()  # the partner goes away mid-stream
        await writer.wait_closed()
    await asyncio.sleep(1.0)  # the gateway notices on its next write
    await collected()
    assert errors(caplog) == []
