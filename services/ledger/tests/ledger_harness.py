"""Start a ledger in-process and feed it events through real JetStream (service tests)."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from oonledger.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from services.common.runtime import ServiceRuntime
from services.common.wire import subject_for
from services.ledger.domain.entry import EventFacts
from services.ledger.domain.signing import Signer, seed_to_pem
from services.ledger.main import build
from services.ledger.tests.factories import envelope_of
from tests.support.plugin import ServiceRunner, call_metadata, channel_to, eventually


@dataclass
class Ledger:
    runtime: ServiceRuntime
    channel: grpc.aio.Channel
    stub: ledger_pb2_grpc.AuditServiceStub
    nc: NATS
    js: JetStreamContext
    signer: Signer

    @property
    def schema(self) -> str:
        return self.runtime.settings.schema

    async def publish(self, events: Sequence[EventFacts], msg_id_suffix: str = "") -> None:
        settings = self.runtime.settings
        for f in events:
            envelope = envelope_of(f)
            subject = subject_for(settings.subject_prefix_for(f.service), envelope)
            await self.js.publish(
                subject,
                envelope.SerializeToString(),
                headers={"Nats-Msg-Id": f.event_id + msg_id_suffix},
            )

    async def replay(
        self, tenant: str, claim_id: str, **kwargs: Any
    ) -> list[ledger_pb2.AuditEntry]:
        entries: list[ledger_pb2.AuditEntry] = []
        request = ledger_pb2.ReplayClaimRequest(claim_id=claim_id, **kwargs)
        async for chunk in self.stub.ReplayClaim(request, metadata=call_metadata(tenant)):
            entries.extend(chunk.entries)
        return entries

    async def wait_for(
        self, tenant: str, claim_id: str, count: int, timeout: float = 20
    ) -> list[ledger_pb2.AuditEntry]:
        async def probe() -> list[ledger_pb2.AuditEntry]:
            try:
                entries = await self.replay(tenant, claim_id)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return []
                raise
            return entries if len(entries) >= count else []

        return await eventually(probe, timeout=timeout)

    async def close(self, runner: ServiceRunner) -> None:
        await self.channel.close()
        await self.nc.close()
        await runner.stop(self.runtime)


async def start_ledger(
    runner: ServiceRunner,
    key_dir: pathlib.Path,
    seed: bytes | None = None,
    extra_env: dict[str, str] | None = None,
    **overrides: Any,
) -> Ledger:
    signer = Signer.from_seed(seed or uuid.uuid4().bytes * 2)
    key_file = key_dir / f"ledger-{uuid.uuid4().hex[:6]}.pem"
    key_file.write_text(seed_to_pem(signer.private_key.private_bytes_raw()))
    runtime = await runner.start(
        "ledger",
        build,
        extra={
            "LEDGER_SIGNING_KEY_FILE": str(key_file),
            "LEDGER_CHECKPOINT_SECONDS": "0.2",
            **(extra_env or {}),
        },
        **overrides,
    )
    nc = await nats.connect(runtime.settings.nats_url)
    channel = channel_to(runtime)
    return Ledger(
        runtime, channel, ledger_pb2_grpc.AuditServiceStub(channel), nc, nc.jetstream(), signer
    )
