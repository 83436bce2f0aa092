"""Partners are told (issue 19): a subscriber follows a journey and receives every event once,
in order; a webhook receiver that is down for a minute gets every delivery afterwards, each
verified by its signature; the deliveries are recorded and can be replayed."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest

from gateway.partner.webhooks import SIGNATURE_HEADER, verify_signature
from oonledger.partner.v1 import partner_pb2 as pb
from oonledger.partner.v1 import partner_pb2_grpc
from tests.e2e.journey import CLIENT, Vendor, rid
from tests.e2e.test_journey import agreed_claim
from tests.support.plugin import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

DOWN_SECONDS = 60.0


@dataclass
class Receiver:
    """A partner's webhook endpoint: a real HTTP server that records what it accepts."""

    port: int
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    found = Receiver(port)
    yield found
    found.stop()


def admin_md(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


# Its own waits (the whole pipeline, then the feed read to its end, then the webhook's backoff)
# add up past the suite's 300 s default when earlier tests left the shared stack a backlog.
@pytest.mark.timeout(900)
async def test_a_subscriber_and_a_webhook_down_for_a_minute_get_every_event_once_in_order(
    stack, channel, receiver
):
    stack.require("claims", "negotiation", "settlement", "fees", "ledger")
    vendor = await Vendor.enrol(stack, channel)
    admin = await stack.partner(vendor.tenant, "admin")
    partner = partner_pb2_grpc.PartnerEventsServiceStub(channel)

    # The endpoint is registered while nobody listens on its port.
    registered = await partner.RegisterWebhook(pb.RegisterWebhookRequest(
        request_id=rid(), url=f"http://127.0.0.1:{receiver.port}/oon", description="PM system"),
        metadata=admin_md(admin), timeout=15)
    down_since = time.monotonic()
    hook, secret = registered.webhook, registered.signing_secret
    assert hook.webhook_id and len(secret) == 64

    # A subscriber follows the tenant's events while the journey runs.
    followed: list[pb.PartnerEvent] = []
    stream = partner.Subscribe(pb.SubscribeRequest(), metadata=vendor.md("negotiator"))

    async def follow() -> None:
        async for event in stream:
            followed.append(event)

    follower = asyncio.create_task(follow())
    await vendor.publish_fee_schedule(rate_bps=2500)
    claim_id, pcn, _ = await agreed_claim(vendor, bulk=3)
    await vendor.remit_835(pcn, 60_000, date(2026, 11, 20))

    async def billed() -> bool:
        return any(e.event_type == "FeeAssessed" for e in followed)

    # The whole pipeline (triage → negotiation → settlement → fees) runs first; slow under load.
    await eventually(billed, timeout=300)  # type: ignore[arg-type]

    # Everything the feed holds for the tenant, read to its end: the subscriber's view.
    async def settled() -> list[pb.PartnerEvent]:
        first = [e async for e in partner.Subscribe(
            pb.SubscribeRequest(stop_at_end=True), metadata=vendor.md("auditor"))]
        await asyncio.sleep(2)
        second = [e async for e in partner.Subscribe(
            pb.SubscribeRequest(stop_at_end=True), metadata=vendor.md("auditor"))]
        return second if len(first) == len(second) else []

    everything = await eventually(settled, timeout=300)  # type: ignore[arg-type]
    await eventually(lambda: len(followed) >= len(everything), timeout=30)  # type: ignore
    stream.cancel()
    follower.cancel()
    assert [e.event_id for e in followed] == [e.event_id for e in everything]
    assert len({e.event_id for e in followed}) == len(followed)
    positions = [int(e.cursor[1:]) for e in followed]
    assert positions == sorted(positions)
    types = {e.event_type for e in followed}
    assert {"ClaimRegistered", "SettlementAgreed", "PaymentPosted", "FeeAssessed"} <= types, types
    mine = [e for e in everything if e.claim_id == claim_id]
    assert mine and all(e.client_id == CLIENT for e in mine), mine
    registered_event = next(e for e in followed if e.event_type == "ClaimRegistered")
    assert registered_event.event.type_url.endswith("oonledger.claims.v1.ClaimRegistered")

    # A filter and a cursor: only the claim's settlement events, resumed after the first.
    narrowed = [e async for e in partner.Subscribe(pb.SubscribeRequest(
        stop_at_end=True, filter=pb.EventFilter(claim_id=claim_id, event_types=[
            "SettlementOpened", "PaymentPosted"])), metadata=vendor.md("finance"))]
    assert [e.event_type for e in narrowed] == ["SettlementOpened", "PaymentPosted"]
    resumed = [e async for e in partner.Subscribe(pb.SubscribeRequest(
        stop_at_end=True, after_cursor=narrowed[0].cursor,
        filter=pb.EventFilter(claim_id=claim_id, event_types=["SettlementOpened",
                                                              "PaymentPosted"])),
        metadata=vendor.md("finance"))]
    assert [e.event_id for e in resumed] == [narrowed[1].event_id]

    # The README's command, exactly: buf curl finds the service through reflection.
    buf = Path(sys.executable).parent / "buf"
    if buf.exists():
        body = json.dumps({"filter": {"claimId": claim_id, "eventTypes": [
            "SettlementOpened", "PaymentPosted"]}, "stopAtEnd": True})
        process = await asyncio.create_subprocess_exec(
            str(buf), "curl", "--protocol", "grpc", "--http2-prior-knowledge",
            "-H", f"authorization: Bearer {vendor.keys['finance']}", "-d", body,
            f"http://{stack.grpc_address}/oonledger.partner.v1.PartnerEventsService/Subscribe",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()
        streamed = [json.loads(part) for part in out.decode().replace("}\n{", "}\x00{")
                    .split("\x00") if part.strip()]
        assert [e["eventType"] for e in streamed] == ["SettlementOpened", "PaymentPosted"]
        assert streamed[1]["event"]["@type"].endswith("oonledger.settlement.v1.PaymentPosted")

    # Another tenant sees none of it.
    other = await Vendor.enrol(stack, channel)
    theirs = [e async for e in partner.Subscribe(
        pb.SubscribeRequest(stop_at_end=True), metadata=other.md("negotiator"))]
    assert not {e.event_id for e in theirs} & {e.event_id for e in followed}

    # The receiver comes back after a minute; every event arrives, in order, signed.
    attempts = await partner.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(
        webhook_id=hook.webhook_id), metadata=admin_md(admin), timeout=15)
    assert attempts.deliveries and all(
        d.outcome == pb.DELIVERY_OUTCOME_FAILED and d.http_status == 0 and d.error
        for d in attempts.deliveries)
    await asyncio.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - down_since)))
    receiver.start()
    await eventually(lambda: len(receiver.received) >= len(everything),  # type: ignore
                     timeout=60)
    delivered = []
    for headers, body in receiver.received:
        assert verify_signature(secret, headers[SIGNATURE_HEADER.lower()], body, time.time())
        assert not verify_signature(secret, headers[SIGNATURE_HEADER.lower()],
                                    body + b" ", time.time())
        event = json.loads(body)
        assert headers["oon-event-id"] == event["eventId"]
        delivered.append(event["eventId"])
    assert delivered == [e.event_id for e in everything]

    async def caught_up() -> bool:
        # The receiver has the last POST a moment before the gateway records its answer.
        listed = await partner.ListWebhooks(pb.ListWebhooksRequest(), metadata=admin_md(admin),
                                            timeout=15)
        (state,) = listed.webhooks
        return state.delivered_cursor == everything[-1].cursor and state.failing_attempts == 0

    await eventually(caught_up, timeout=30)  # type: ignore[arg-type]

    # Replay from the third event: the rest arrives again.
    await partner.ReplayWebhookDeliveries(pb.ReplayWebhookDeliveriesRequest(
        request_id=rid(), webhook_id=hook.webhook_id, after_cursor=everything[2].cursor),
        metadata=admin_md(admin), timeout=15)
    again = len(everything) - 3
    await eventually(lambda: len(receiver.received) >= len(everything) + again,  # type: ignore
                     timeout=60)
    replayed = [json.loads(body)["eventId"] for _, body in receiver.received[len(everything):]]
    assert replayed == [e.event_id for e in everything[3:]]


async def test_partner_calls_refuse_bad_input_and_other_roles(stack, channel):
    vendor = await Vendor.enrol(stack, channel)
    admin = await stack.partner(vendor.tenant, "admin")
    partner = partner_pb2_grpc.PartnerEventsServiceStub(channel)

    async def code_of(call) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        return refused.value.code()

    for request in (
        pb.RegisterWebhookRequest(request_id=rid(), url="ftp://example.com/x"),
        pb.RegisterWebhookRequest(request_id=rid(), url="https://user:pw@example.com/x"),
        pb.RegisterWebhookRequest(url="https://example.com/hook"),
    ):
        assert await code_of(partner.RegisterWebhook(
            request, metadata=admin_md(admin), timeout=15)) == grpc.StatusCode.INVALID_ARGUMENT
    assert await code_of(partner.RegisterWebhook(
        pb.RegisterWebhookRequest(request_id=rid(), url="https://example.com/hook"),
        metadata=vendor.md("negotiator"), timeout=15)) == grpc.StatusCode.PERMISSION_DENIED
    assert await code_of(partner.RemoveWebhook(
        pb.RemoveWebhookRequest(request_id=rid(), webhook_id=uuid.uuid4().hex),
        metadata=admin_md(admin), timeout=15)) == grpc.StatusCode.NOT_FOUND
    bad_cursor = partner.Subscribe(pb.SubscribeRequest(after_cursor="x1"),
                                   metadata=vendor.md("negotiator"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in bad_cursor:
            pass
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # The same request id twice registers once; with another body it is refused.
    request_id = rid()
    first = await partner.RegisterWebhook(pb.RegisterWebhookRequest(
        request_id=request_id, url="https://example.com/hook"), metadata=admin_md(admin),
        timeout=15)
    again = await partner.RegisterWebhook(pb.RegisterWebhookRequest(
        request_id=request_id, url="https://example.com/hook"), metadata=admin_md(admin),
        timeout=15)
    assert again.webhook.webhook_id == first.webhook.webhook_id
    assert await code_of(partner.RegisterWebhook(pb.RegisterWebhookRequest(
        request_id=request_id, url="https://example.com/other"), metadata=admin_md(admin),
        timeout=15)) == grpc.StatusCode.ALREADY_EXISTS
    removed = await partner.RemoveWebhook(pb.RemoveWebhookRequest(
        request_id=rid(), webhook_id=first.webhook.webhook_id), metadata=admin_md(admin),
        timeout=15)
    assert removed.webhook.HasField("removed_at")
    # Another tenant's admin cannot see or remove it.
    other = await Vendor.enrol(stack, channel)
    other_admin = await stack.partner(other.tenant, "admin")
    assert not (await partner.ListWebhooks(pb.ListWebhooksRequest(),
                                           metadata=admin_md(other_admin))).webhooks
    assert await code_of(partner.RemoveWebhook(
        pb.RemoveWebhookRequest(request_id=rid(), webhook_id=first.webhook.webhook_id),
        metadata=admin_md(other_admin), timeout=15)) == grpc.StatusCode.NOT_FOUND
