"""Composition root of the ledger: schema + writer pool → ingest, checkpointer, AuditService."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from oonledger.ledger.v1 import ledger_pb2_grpc
from services.common.grpc_server import ServicerBinding
from services.common.runtime import Infrastructure, ServiceParts, run_service
from services.ledger.adapters.appender import Appender
from services.ledger.adapters.checkpointer import Checkpointer
from services.ledger.adapters.grpc_api import AuditServicer
from services.ledger.adapters.ingest import StreamIngest
from services.ledger.adapters.pipeline_facts import LedgerPipelineFacts
from services.ledger.adapters.sql_reader import LogReader
from services.ledger.adapters.sql_schema import migrate, writer_pool
from services.ledger.adapters.witness import Witness
from services.ledger.application import AuditApplication
from services.ledger.config import LedgerConfig
from services.ops.service import PipelineOperations

SERVICE_NAME = "oonledger.ledger.v1.AuditService"
# Health names (services/common/health.py): the integrity alarms of the appender (a forged row,
# services/ledger/domain/appending.py) and of the checkpointer (a refusal to sign).
APPENDER_PART = "oonledger.ledger.appender"
CHECKPOINTER_PART = "oonledger.ledger.checkpointer"


def utc_now() -> datetime:
    return datetime.now(UTC)


async def close_pool(pool: asyncpg.Pool, grace: float = 5.0) -> None:
    """Close gracefully, but never let a stuck connection hold up shutdown."""
    try:
        await asyncio.wait_for(pool.close(), grace)
    except TimeoutError:
        pool.terminate()


async def build(infra: Infrastructure, clock: Callable[[], datetime] = utc_now) -> ServiceParts:
    settings = infra.settings
    config = LedgerConfig.from_settings(settings)
    schema = settings.schema
    # The runtime's pool (schema owner) runs the DDL; everything else uses the writer role,
    # which may only INSERT and SELECT.
    await migrate(infra.pool, schema)
    pool = await writer_pool(settings.database_url, schema, config.pool_size)
    reader = LogReader(pool)
    witness = Witness(infra.js, settings, config.witness_file)
    await witness.ensure()
    checkpointer = Checkpointer(
        reader, config.signer, config.origin, clock, witness,
        part=infra.monitor.part(CHECKPOINTER_PART),
    )
    app = AuditApplication(
        reader, checkpointer, config.signer, config.origin, config.retired_keys, witness
    )
    appender = Appender(pool, schema, part=infra.monitor.part(APPENDER_PART))
    ingest = StreamIngest(
        infra.nc,
        appender,
        pool,
        durable=config.durable,
        batch_size=config.batch_size,
        ack_wait_seconds=config.ack_wait_seconds,
        dead_letter_subject=f"{settings.subject_prefix_for('deadletter')}.{config.durable}",
        clock=clock,
        monitor=infra.monitor,
    )
    for stream in config.streams:
        ingest.part(stream)  # known to health from the start

    async def run_ingest() -> None:
        """Take the writer lease, then pull every stream; restarted as a whole on failure."""
        await appender.start()
        try:
            async with asyncio.TaskGroup() as group:
                for stream in config.streams:
                    group.create_task(ingest.run(stream), name=f"ledger-ingest:{stream}")
        finally:
            await appender.close()

    operations = PipelineOperations(infra, facts=[LedgerPipelineFacts(schema)])
    background: list[Callable[[], Awaitable[None]]] = [
        run_ingest,
        functools.partial(checkpointer.run, config.checkpoint_seconds),
        operations.run,
    ]
    return ServiceParts(
        bindings=[
            ServicerBinding(
                ledger_pb2_grpc.add_AuditServiceServicer_to_server,
                AuditServicer(app),
                SERVICE_NAME,
            ),
            operations.binding,
        ],
        background=background,
        on_stop=[functools.partial(close_pool, pool)],
    )


if __name__ == "__main__":
    run_service("ledger", build)
