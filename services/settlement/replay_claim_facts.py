"""Re-project settlement's claim facts (`claim_refs`) from the claims service's stream.

`python -m services.settlement.replay_claim_facts` (same environment as the service). For a
read model that missed information, e.g. the 837 lines of claims registered before settlement
kept them (rule 5 then cannot match their service lines). Every claims event is read from the
start of the stream with an ephemeral consumer and applied through the same projection the
running service uses; its handlers are idempotent upserts, so replaying over live data only
fills what is missing. The running service's own consumer and tracking are not touched.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from oonledger.common.v1.envelope_pb2 import EventEnvelope
from services.common import jetstream
from services.common.consumer import Delivery
from services.common.settings import Settings
from services.common.wire import decode_payload
from services.settlement import projections
from services.settlement.subscriptions import CLAIMS_EVENTS

log = logging.getLogger(__name__)
BATCH = 500


async def replay_claim_facts(
    settings: Settings,
    pool: asyncpg.Pool,
    js: JetStreamContext,
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Apply every claims event up to the stream's end at the start; returns how many."""
    stream = settings.stream_for("claims")
    last = (await js.stream_info(stream)).state.last_seq
    project = projections.projector(settings.schema, projections.CLAIMS_HANDLERS)
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.ALL,
        inactive_threshold=60,  # the server removes it if this command dies
    )
    subscription = await js.pull_subscribe(
        f"{settings.subject_prefix_for('claims')}.>", durable=None, stream=stream, config=config
    )
    applied = 0
    try:
        position = 0
        while position < last:
            try:
                messages = await subscription.fetch(BATCH, timeout=5)
            except TimeoutError:
                break  # nothing more (the stream's tail was removed by its limits)
            async with pool.acquire() as conn, conn.transaction():
                for msg in messages:
                    position = msg.metadata.sequence.stream
                    envelope = EventEnvelope.FromString(msg.data)
                    if envelope.event_type not in CLAIMS_EVENTS:
                        continue
                    delivery = Delivery(envelope, decode_payload(envelope), datetime.now(UTC))
                    await project(conn, delivery)
                    applied += 1
            on_progress(position, last)
    finally:
        await subscription.unsubscribe()
    return applied


async def main_async() -> int:
    settings = Settings.from_env("settlement")
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    nc = await jetstream.connect(settings, name="oonledger-settlement-replay")
    try:
        applied = await replay_claim_facts(
            settings,
            pool,
            nc.jetstream(),
            lambda done, total: log.info("claims stream: %d of %d", done, total),
        )
    finally:
        await nc.close()
        await pool.close()
    print(f"re-projected {applied} claims events into {settings.schema}.claim_refs")
    return 0


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    return asyncio.run(main_async())


if __name__ == "__main__":
    raise SystemExit(main())
