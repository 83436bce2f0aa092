"""A small, strict HTTP/1.1 server on asyncio streams.

Keep-alive, Content-Length and chunked request bodies, `Expect: 100-continue`, chunked
streaming responses; bounded line, header and body sizes. Anything ambiguous (both
Content-Length and Transfer-Encoding, folded headers) is refused rather than guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import ssl
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 16 * 1024
MAX_HEADERS = 100
_TOKEN_CHARS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    peer: str = ""  # the client's address (the console counts sign-in failures per address)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    # Set for a streamed body (sent chunked); `body` is then ignored.
    stream: AsyncGenerator[bytes, None] | None = None


class HttpError(Exception):
    """A request the server refuses at the protocol level (the connection is then closed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


Handler = Callable[[Request], Awaitable[Response]]
ErrorRenderer = Callable[[int, str], Response]


def reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return {499: "Client Closed Request"}.get(status, "Unknown")


class HttpServer:
    def __init__(
        self,
        handler: Handler,
        render_error: ErrorRenderer,
        host: str,
        port: int,
        max_body_bytes: int,
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout: float = 60.0,
        max_connections: int = 1024,
    ) -> None:
        self.handler = handler
        self.render_error = render_error
        self.host = host
        self.requested_port = port
        self.max_body_bytes = max_body_bytes
        self.ssl_context = ssl_context
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(
            self._serve_connection,
            self.host,
            self.requested_port,
            ssl=self.ssl_context,
            limit=MAX_LINE_BYTES,
            reuse_address=True,
            start_serving=False,  # bound now (the port is known), accepting from serve_forever()
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def start_serving(self) -> None:
        """Accept connections now (serve_forever() does it too)."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.start_serving()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            # Bounded: a peer that never acknowledges the close must not hold up shutdown.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
            self._server = None

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            if len(self._connections) > self.max_connections:
                # Read the request head first: closing with unread data would reset the
                # connection before the client sees the answer.
                with contextlib.suppress(TimeoutError, ValueError, asyncio.IncompleteReadError):
                    async with asyncio.timeout(2):
                        await reader.readuntil(b"\r\n\r\n")
                busy = self.render_error(503, "too many connections; retry shortly")
                busy.headers.append(("Retry-After", "1"))
                await self._send(writer, busy, keep_alive=False)
                return
            await self._requests(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            pass  # the client went away or stalled: nothing to answer, the connection closes
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    line = await reader.readline()
            except ValueError:
                await self._send(writer, self.render_error(414, "request line too long"), False)
                return
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue  # tolerated between requests (RFC 9112 §2.2)
            try:
                request, keep_alive = await self._read_request(line, reader, writer)
            except HttpError as refused:
                await self._send(writer, self.render_error(refused.status, refused.message), False)
                return
            try:
                response = await self.handler(request)
            except Exception:
                log.exception("HTTP handler failed for %s %s", request.method, request.path)
                response = self.render_error(500, "internal error")
            await self._send(writer, response, keep_alive)
            if not keep_alive:
                return

    async def _read_request(
        self, line: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[Request, bool]:
        parts = line.rstrip(b"\r\n").split(b" ")
        if len(parts) != 3:
            raise HttpError(400, "malformed request line")
        method, target, version = (p.decode("latin-1") for p in parts)
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            raise HttpError(505, "only HTTP/1.1 and HTTP/1.0 are supported")
        headers = await _read_headers(reader)
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if version == "HTTP/1.1" else (
            "keep-alive" in connection)
        body = await self._read_body(headers, reader, writer)
        path, _, query = target.partition("?")
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) and peername else ""
        return Request(method.upper(), path, query, headers, body, peer), keep_alive

    async def _read_body(
        self, headers: Mapping[str, str], reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bytes:
        encoding = headers.get("transfer-encoding")
        length = headers.get("content-length")
        if encoding is not None and length is not None:
            raise HttpError(400, "both Content-Length and Transfer-Encoding given")
        if encoding is None and length is None:
            return b""
        if length is not None:
            if not length.isdigit():
                raise HttpError(400, "invalid Content-Length")
            size = int(length)
            if size > self.max_body_bytes:
                raise HttpError(413, f"body of {size} bytes exceeds {self.max_body_bytes} bytes")
            await _continue_if_expected(headers, writer)
            return await reader.readexactly(size)
        if (encoding or "").strip().lower() != "chunked":
            raise HttpError(501, f"unsupported Transfer-Encoding {encoding!r}")
        await _continue_if_expected(headers, writer)
        return await self._read_chunked(reader)

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        body = bytearray()
        while True:
            size_line = (await reader.readline()).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise HttpError(400, "malformed chunk size") from None
            if size == 0:
                break
            if len(body) + size > self.max_body_bytes:
                raise HttpError(413, f"body exceeds {self.max_body_bytes} bytes")
            body += await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise HttpError(400, "malformed chunk")
        await _read_headers(reader)  # trailers, ignored
        return bytes(body)

    async def _send(
        self, writer: asyncio.StreamWriter, response: Response, keep_alive: bool
    ) -> None:
        head = [
            f"HTTP/1.1 {response.status} {reason(response.status)}",
            f"Content-Type: {response.content_type}",
            f"Connection: {'keep-alive' if keep_alive else 'close'}",
        ]
        head += [f"{name}: {_header_value(value)}" for name, value in response.headers]
        if response.stream is None:
            head.append(f"Content-Length: {len(response.body)}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
            await writer.drain()
            return
        head.append("Transfer-Encoding: chunked")
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        # Closed here when the client goes away mid-stream (a failed write): the upstream
        # call ends now, not whenever the garbage collector gets to it.
        async with contextlib.aclosing(response.stream) as chunks:
            async for chunk in chunks:
                if chunk:
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        try:
            line = await reader.readline()
        except ValueError:
            raise HttpError(431, "header line too long") from None
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise asyncio.IncompleteReadError(line, None)
        if line[:1] in (b" ", b"\t"):
            raise HttpError(400, "folded header lines are not accepted")
        name, colon, value = line.rstrip(b"\r\n").partition(b":")
        if not colon or not name or not set(name) <= _TOKEN_CHARS:
            raise HttpError(400, "malformed header line")
        key = name.decode("ascii").lower()
        text = value.strip().decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    raise HttpError(431, f"more than {MAX_HEADERS} header lines")


async def _continue_if_expected(headers: Mapping[str, str], writer: asyncio.StreamWriter) -> None:
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()


def _header_value(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")
