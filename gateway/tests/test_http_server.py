"""The HTTP/1.1 handler over real sockets: keep-alive, chunked bodies, limits, refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from gateway.http_front import protocol_error
from gateway.http_server import HttpServer, Request, Response
from gateway.tests.conftest import dechunk, parse_reply

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def echo(request: Request) -> Response:
    if request.path == "/stream":
        async def lines() -> AsyncGenerator[bytes, None]:
            for i in range(3):
                yield b'{"n":%d}\n' % i
        return Response(200, content_type="application/x-ndjson", stream=lines())
    body = {"method": request.method, "path": request.path, "query": request.query,
            "length": len(request.body), "body": request.body.decode()}
    return Response(200, json.dumps(body).encode())


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[HttpServer]:
    http = HttpServer(echo, protocol_error, "127.0.0.1", 0, max_body_bytes=1024)
    await http.start_serving()
    task = asyncio.create_task(http.serve_forever())
    yield http
    await http.close()
    task.cancel()


async def exchange(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    return data


async def test_two_requests_on_one_keep_alive_connection(server):
    raw = (b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
           b"GET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    data = await exchange(server.port, raw)
    first, second = data.split(b"HTTP/1.1 200 OK")[1:]
    assert json.loads(parse_reply(b"HTTP/1.1 200 OK" + first).body) == {
        "method": "POST", "path": "/a", "query": "x=1", "length": 5, "body": "hello"}
    assert json.loads(parse_reply(b"HTTP/1.1 200 OK" + second).body)["path"] == "/b"


async def test_chunked_request_body(server):
    raw = (b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n")
    reply = parse_reply(await exchange(server.port, raw))
    assert reply.json()["body"] == "wikipedia"


async def test_expect_100_continue_is_answered_before_the_body(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /e HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
                 b"Connection: close\r\n\r\n")
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    assert interim.startswith(b"HTTP/1.1 100 Continue")
    writer.write(b"ok")
    reply = parse_reply(await asyncio.wait_for(reader.read(), timeout=5))
    writer.close()
    assert reply.json()["body"] == "ok"


async def test_streamed_response_is_chunked(server):
    data = await exchange(server.port, b"GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert dechunk(body).splitlines() == [b'{"n":0}', b'{"n":1}', b'{"n":2}']


@pytest.mark.parametrize(("raw", "status"), [
    (b"POST /big HTTP/1.1\r\nContent-Length: 4096\r\n\r\n", 413),
    (b"POST /x HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"GET /x HTTP/2.0\r\n\r\n", 505),
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nbad header\r\n\r\n", 400),
    (b"GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),
    (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n", 413),
    (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", 414),
])
async def test_refusals_close_the_connection_with_a_json_error(server, raw, status):
    reply = parse_reply(await exchange(server.port, raw))
    assert reply.status == status
    assert reply.headers["connection"] == "close"
    assert reply.json()["error"]["code"] == status


async def test_connections_beyond_the_limit_get_503():
    http = HttpServer(echo, protocol_error, "127.0.0.1", 0, max_body_bytes=1024,
                      max_connections=1)
    await http.start_serving()
    task = asyncio.create_task(http.serve_forever())
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
        writer.write(b"GET /keep HTTP/1.1\r\n\r\n")  # keep-alive: holds the only slot
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        reply = parse_reply(await exchange(http.port, b"GET /x HTTP/1.1\r\n\r\n"))
        assert reply.status == 503 and reply.headers["retry-after"] == "1"
        writer.close()
    finally:
        await http.close()
        task.cancel()
