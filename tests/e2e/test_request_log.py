"""Structured request logs (issue 19): one JSON line per call in the gateway and in every
service -- who, which method, status, latency, request and trace id -- and never the patient."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import date

import pytest

from oonledger.claims.v1 import claims_pb2
from services.common import request_log
from tests.e2e.journey import Vendor
from tests.e2e.test_journey import agreed_claim

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The patient of gateway/tests/samples.py's claim, as a log could leak it.
PATIENT_VALUES = ("Jane", "Roe", "1980-04-02", "W123456789")


@pytest.fixture
def every_log_line() -> Iterator[io.StringIO]:
    """Everything the process logs while the test runs: request lines as JSON (the handler
    request_log.configure installs), every other logger through the root handler."""
    sink = io.StringIO()
    request_logger = logging.getLogger(request_log.LOGGER_NAME)
    json_handler = logging.StreamHandler(sink)
    json_handler.setFormatter(request_log.JsonLines())
    plain_handler = logging.StreamHandler(sink)
    plain_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    saved = (request_logger.propagate, request_logger.level, root.level)
    request_logger.propagate = False
    request_logger.setLevel(logging.INFO)
    request_logger.addHandler(json_handler)
    root.addHandler(plain_handler)
    root.setLevel(logging.DEBUG)
    try:
        yield sink
    finally:
        request_logger.removeHandler(json_handler)
        root.removeHandler(plain_handler)
        request_logger.propagate, _, _ = saved
        request_logger.setLevel(saved[1])
        root.setLevel(saved[2])


async def test_a_journey_logs_every_call_as_json_and_never_the_patient(
    stack, channel, every_log_line
):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    claim_id, pcn, _ = await agreed_claim(vendor, bulk=3)
    await vendor.remit_835(pcn, 60_000, date(2026, 11, 20))
    refused = await vendor.json("negotiator", "/v1/claims/GetClaim", {"claimId": "nope"})
    assert refused.status in (400, 404)
    reply = await vendor.claims.GetClaim(claims_pb2.GetClaimRequest(claim_id=claim_id),
                                         metadata=vendor.md("negotiator"), timeout=15)
    assert reply.claim.input.patient.last_name == "Roe"  # the patient was there to leak

    text = every_log_line.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    gateway = [line for line in lines if line["component"] == "gateway"]
    services = {line["component"] for line in lines if line["component"] != "gateway"}
    assert {"claims", "negotiation", "settlement"} <= services, services
    assert {"http", "grpc"} <= {line["front"] for line in gateway}
    for line in lines:
        assert set(line) == {"time", "component", "front", "method", "status", "latency_ms",
                             "tenant", "caller", "request_id", "trace_id"}, line
        assert line["latency_ms"] >= 0 and line["method"].startswith("oonledger."), line
    import_line = next(line for line in gateway
                       if line["method"].endswith("ClaimsService/ImportClaims"))
    assert import_line["status"] == "OK" and import_line["tenant"] == vendor.tenant
    assert import_line["caller"] and len(import_line["trace_id"]) == 32
    failed = [line for line in gateway if line["method"].endswith("ClaimsService/GetClaim")
              and line["status"] != "OK"]
    assert failed and failed[0]["status"] in ("INVALID_ARGUMENT", "NOT_FOUND")
    # The service's own line for a gateway call carries the same request id and trace.
    offer = next(line for line in lines if line["component"] == "negotiation"
                 and line["method"].endswith("/MakeOffer"))
    assert offer["request_id"] and offer["tenant"] == vendor.tenant
    assert any(g["trace_id"] == offer["trace_id"] for g in gateway)

    for value in (*PATIENT_VALUES, pcn):
        assert value not in text, f"{value!r} reached the logs"
