"""Structured request logs: one JSON line per call, in the gateway and in every service.

Who called what, from which key, with what result and how long it took -- the line an operator
greps when a partner says "my call failed". A line holds only the fields below: never a request
or response body, never a message text (which can quote a field's value), so no personal health
information can reach the logs through it (tests/e2e greps a journey's logs to prove it).

Lines go to the `oonledger.requests` logger; `configure` gives it its own JSON-lines handler on
standard error, so the request log stays machine-readable whatever format the rest of the
process logs in. `OON_REQUEST_LOG=0` turns it off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from opentelemetry import trace

LOGGER_NAME = "oonledger.requests"
log = logging.getLogger(LOGGER_NAME)


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "request", None)
        if not isinstance(fields, dict):
            fields = {"message": record.getMessage()}
        return json.dumps(fields, separators=(",", ":"), sort_keys=False)


def configure(stream: object = None) -> None:
    """Give the request logger its own JSON-lines handler (once per process)."""
    if os.environ.get("OON_REQUEST_LOG", "1") in ("0", "false", "no"):
        log.disabled = True
        return
    if any(isinstance(h.formatter, JsonLines) for h in log.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(JsonLines())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


@dataclass
class RequestRecord:
    """What is known about a call; filled in as the call goes (the key once authenticated)."""

    component: str
    method: str
    front: str = "grpc"
    tenant: str = ""
    caller: str = ""
    request_id: str = ""
    status: str = "OK"
    trace_id: str = ""

    def failed(self, code: grpc.StatusCode | str) -> None:
        self.status = code.name if isinstance(code, grpc.StatusCode) else str(code)

    def note_trace(self) -> None:
        """Remember the current span's trace id (call inside the call's span)."""
        self.trace_id = self.trace_id or current_trace_id()


def current_trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.trace_id else ""


@contextmanager
def request_logged(record: RequestRecord) -> Iterator[RequestRecord]:
    """Log one line for the call when it ends, with its status and latency in milliseconds.

    The caller sets `record.status` through `failed(code)` where it maps a failure; an
    exception escaping without that is logged as UNKNOWN (and re-raised)."""
    started = time.perf_counter()
    record.note_trace()
    try:
        yield record
    except (asyncio.CancelledError, GeneratorExit):
        if record.status == "OK":
            record.status = "CANCELLED"
        raise
    except BaseException:
        if record.status == "OK":
            record.status = "UNKNOWN"
        raise
    finally:
        if not log.disabled:
            log.info(
                "request",
                extra={"request": {
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "component": record.component,
                    "front": record.front,
                    "method": record.method,
                    "status": record.status,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    "tenant": record.tenant,
                    "caller": record.caller,
                    "request_id": record.request_id,
                    "trace_id": record.trace_id,
                }},
            )
