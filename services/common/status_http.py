"""Each service's plain-HTTP operations endpoint (loopback by default).

- `GET /metrics`: every OpenTelemetry metric of the process, Prometheus text format.
- `GET /status`: JSON of the progress monitor: overall serving, and per part (relay,
  consumers) whether it is serving, for how long it has been stalled and why. gRPC health
  says NOT_SERVING but has no field for the reason; this is where an operator reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger(__name__)

READ_TIMEOUT_SECONDS = 5.0


class StatusHttpServer:
    def __init__(self, host: str, port: int, status: Callable[[], dict[str, Any]]) -> None:
        self.host = host
        self.requested_port = port
        self.status = status
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.requested_port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                request_line = (await reader.readline()).decode("latin-1").split()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # headers are not used
            path = request_line[1].split("?", 1)[0] if len(request_line) > 1 else ""
            code, content_type, body = self._answer(request_line[0] if request_line else "", path)
            writer.write(
                f"HTTP/1.1 {code}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass  # a client that went away or never finished its request
        finally:
            writer.close()

    def _answer(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method != "GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
        if path == "/status":
            document = self.status()
            code = "200 OK" if document.get("serving") else "503 Service Unavailable"
            return code, "application/json", json.dumps(document, indent=1).encode()
        return "404 Not Found", "text/plain", b"try /metrics or /status\n"
