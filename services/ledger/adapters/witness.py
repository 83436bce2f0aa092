"""Every signed checkpoint is also kept where a database superuser cannot rewrite it.

The witness is a JetStream stream created with `deny_delete` and `deny_purge` (and no
rollups): once a checkpoint is published there, neither the ledger nor anyone with database
credentials can take it back; only a NATS operator could remove the stream itself. An auditor
compares what the database says with what was witnessed: a checkpoint replaced in the table,
or a log rolled back to an earlier backup (the witness then holds a checkpoint larger than the
log), is a finding. Why JetStream and not a file: it is already the system's replicated,
durable medium (three replicas in a cluster, outside PostgreSQL's trust domain), every replica
of the ledger reaches it, and the checkpoints stay in order with their publication time.
`LEDGER_WITNESS_FILE` adds an append-only JSON-lines copy on a local disk (or a mounted
object store) for operators who want a second, independent witness.
"""

from __future__ import annotations

import json
import logging
import pathlib
from dataclasses import dataclass

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, RetentionPolicy, StorageType, StreamConfig

from services.common.jetstream import ensure_stream
from services.common.settings import Settings
from services.ledger.domain.checkpoint import SignedCheckpoint

log = logging.getLogger(__name__)

WITNESS = "witness"


def witness_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=settings.stream_for(WITNESS),
        subjects=[f"{settings.subject_prefix_for(WITNESS)}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        num_replicas=settings.stream_replicas,
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
        duplicate_window=15 * 60,
    )


@dataclass
class Witness:
    js: JetStreamContext
    settings: Settings
    file: pathlib.Path | None = None

    @property
    def subject(self) -> str:
        return f"{self.settings.subject_prefix_for(WITNESS)}.checkpoint"

    async def ensure(self) -> None:
        await ensure_stream(self.js, witness_config(self.settings))

    async def publish(self, signed: SignedCheckpoint) -> None:
        """Witness one checkpoint (idempotent: JetStream dedupes on its tree size)."""
        data = json.dumps(signed.to_json(), sort_keys=True).encode("utf-8")
        size = signed.checkpoint.tree_size
        ack = await self.js.publish(
            self.subject,
            data,
            stream=self.settings.stream_for(WITNESS),
            headers={"Nats-Msg-Id": f"{signed.checkpoint.origin}:{size}"},
        )
        if self.file is not None and not ack.duplicate:
            with self.file.open("a", encoding="utf-8") as handle:
                handle.write(data.decode("utf-8") + "\n")

    async def history(self, since_size: int = 0) -> list[SignedCheckpoint]:
        """Every witnessed checkpoint (of size > since_size), in the order it was witnessed."""
        stream = self.settings.stream_for(WITNESS)
        try:
            info = await self.js.stream_info(stream)
        except nats.errors.Error:
            return []
        if not info.state.messages:
            return []
        found: list[SignedCheckpoint] = []
        sub = await self.js.subscribe(
            self.subject, stream=stream, ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        try:
            last = info.state.last_seq
            while True:
                msg = await sub.next_msg(timeout=5)
                signed = SignedCheckpoint.from_json(json.loads(msg.data))
                if signed.checkpoint.tree_size > since_size:
                    found.append(signed)
                if msg.metadata.sequence.stream >= last:
                    break
        finally:
            await sub.unsubscribe()
        return found

    async def latest(self) -> SignedCheckpoint | None:
        stream = self.settings.stream_for(WITNESS)
        try:
            msg = await self.js.get_last_msg(stream, self.subject)
        except nats.errors.Error:
            return None
        return SignedCheckpoint.from_json(json.loads(msg.data or b"{}"))
