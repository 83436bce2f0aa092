"""CPU of the parts of a MakeOffer, one at a time (docs/performance.md, issue 13's candidates).

    python -m bench.offer_parts           (PYTHONPATH=<services dir>:<tree>:<tree>/gen)

Each figure is the least of 5 repeats of a timed loop, in CPU time (time.process_time), so the
neighbours' load moves it less than the 32-caller bench; run it for two versions of `services`
alternately to compare. The case's two reads need a database: an embedded PostgreSQL is
started for them (OFFER_PARTS_DB=0 skips them).
"""

from __future__ import annotations

import io
import os
import time
import timeit
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any


def timed(name: str, fn: Callable[[], Any], number: int = 5000) -> None:
    least = min(timeit.repeat(fn, number=number, repeat=5, timer=time.process_time)) / number
    print(f"  {name:<62} {least * 1e6:8.1f} us", flush=True)


def token_parts() -> None:
    from services.common import internal_auth as ia

    private, public = ia.development_key_pair()
    signer = ia.InternalSigner(ia.private_key_from_pem(private))
    method = "/oonledger.negotiation.v1.NegotiationService/MakeOffer"
    verifier = ia.InternalVerifier(ia.public_keys_from_pem(public), "negotiation")
    token = signer.token(audience="negotiation", method=method, tenant="t", actor="a",
                         roles=["negotiator"], request_id=uuid.uuid4().hex)
    head, body, signature = token.split(".")
    key = verifier.keys[0]
    signed, raw = f"{head}.{body}".encode(), ia._unb64(signature)
    timed("internal token: whole check (verify)", lambda: verifier.verify(token, method))
    timed("internal token: the Ed25519 signature check alone", lambda: key.verify(raw, signed))

    class Accepting:
        def verify(self, signature: bytes, data: bytes) -> None:
            return None

    unsigned = ia.InternalVerifier([Accepting()], "negotiation")  # type: ignore[list-item]
    timed("internal token: every other check (header, claims, times)",
          lambda: unsigned.verify(token, method))


def log_and_trace_parts() -> None:
    from services.common import request_log, telemetry

    telemetry.configure("offer-parts")
    request_log.configure(io.StringIO())

    def logged() -> None:
        """The log line's own cost: the measured block is the wrapper, with nothing inside."""
        with request_log.request_logged(request_log.RequestRecord("negotiation", "x/MakeOffer")):
            pass

    with telemetry.tracer.start_as_current_span("offer-parts"):
        timed("request log line (request_logged)", logged)
        timed("trace context for the command (current_traceparent)",
              telemetry.current_traceparent)

        def spanned() -> None:
            """The span's own cost, with nothing inside."""
            with telemetry.server_span("MakeOffer", {}):
                pass

        timed("server span (server_span) around nothing", spanned)


def domain_parts() -> None:
    from eventsourcing.domain import CollectEventsProtocol, DomainEventProtocol

    from services.common.context import CommandContext
    from services.negotiation.domain.negotiation_state import NegotiationState, Offer
    from services.negotiation.tests.builders import open_fields, open_negotiation

    for count in (52, 250):
        holder: Any = type("Offers", (), {})()
        holder.offers = [Offer(offer_id=f"o{i}", kind="offer", party="payer", amount_cents=i,
                               percent_of_qpa_bp=1, made_on=date(2026, 6, 10))
                         for i in range(count)]
        latest = holder.offers[-1].offer_id
        timed(f"the reply's offer lookup (Negotiation.offer), latest of {count}",
              lambda h=holder, o=latest: NegotiationState.offer(h, o))
    ctx = CommandContext(tenant_id="t", actor="a", now=datetime.now(UTC),
                         roles=frozenset({"negotiator"}), request_id="r")
    negotiation = open_negotiation(ctx, **open_fields())
    timed("isinstance(aggregate, DomainEventProtocol)",
          lambda: isinstance(negotiation, DomainEventProtocol))
    timed("isinstance(aggregate, CollectEventsProtocol)",
          lambda: isinstance(negotiation, CollectEventsProtocol))


def read_parts() -> None:
    from bench.seeded_negotiations import seeded_negotiations
    from services.common.context import CommandContext

    with seeded_negotiations("offerparts") as seeded:
        app = seeded.app
        ctx = CommandContext(tenant_id=seeded.tenant, actor="bench", now=datetime.now(UTC),
                             roles=frozenset({"negotiator"}), request_id="r")
        negotiation = app.negotiation(ctx, seeded.ids[0])
        app.dispute_of(ctx, negotiation)  # the miss remembered, as after a first offer
        timed("the case's negotiation (cache hit + fast-forward query)",
              lambda: app.negotiation(ctx, seeded.ids[0]), number=2000)
        timed("the case's dispute lookup (LIMIT 1 query)",
              lambda: app.dispute_of(ctx, negotiation), number=2000)


if __name__ == "__main__":
    print(f"CPU per call, least of 5 repeats (load {os.getloadavg()[0]:.2f}):")
    token_parts()
    log_and_trace_parts()
    domain_parts()
    if os.environ.get("OFFER_PARTS_DB", "1") != "0":
        read_parts()
