"""NATS connection and the JetStream streams the project uses (one per service + dead letters)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable

import nats
import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError

from services.common.settings import ConfigurationError, Settings

log = logging.getLogger(__name__)

SERVICES = ("claims", "negotiation", "settlement", "fees", "ledger")
DUPLICATE_WINDOW_SECONDS = 15 * 60
MINIMUM_SERVER = (2, 10)


@contextlib.asynccontextmanager
async def kept_in_progress(held: Callable[[], Iterable[Msg]], ack_wait: float
                           ) -> AsyncIterator[None]:
    """While the block runs (a fault retried in place, a slow or locked database), tell
    JetStream every third of `ack_wait` that the messages `held()` names and not yet
    acknowledged are still in progress, so it does not hand them to another replica, or back
    to us, meanwhile. A failed signal is left to redelivery, the fallback."""

    async def keep_alive() -> None:
        while True:
            await asyncio.sleep(ack_wait / 3)
            for msg in list(held()):
                if not msg.is_acked:
                    with contextlib.suppress(nats.errors.Error):
                        await msg.in_progress()

    task = asyncio.create_task(keep_alive())
    try:
        yield
    finally:
        task.cancel()  # not awaited: suppressing its CancelledError could swallow ours


async def connect(settings: Settings, name: str | None = None) -> NATS:
    async def on_error(exc: Exception) -> None:
        log.warning("nats: %s", exc)

    nc = await nats.connect(
        servers=[url.strip() for url in settings.nats_url.split(",")],
        name=name or f"oonledger-{settings.service}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        drain_timeout=5,
        error_cb=on_error,
    )
    version = nc.connected_server_version
    if (version.major, version.minor) < MINIMUM_SERVER:
        await nc.close()
        raise ConfigurationError(
            f"NATS server {version} at {settings.nats_url} is too old: OON Ledger needs "
            f"{MINIMUM_SERVER[0]}.{MINIMUM_SERVER[1]}+ (multi-subject consumer filters)"
        )
    return nc


def stream_config(settings: Settings, service: str, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=settings.stream_for(service),
        subjects=[f"{settings.subject_prefix_for(service)}.>"],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        num_replicas=replicas,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or update it in place when it exists with other settings."""
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def ensure_streams(
    js: JetStreamContext, settings: Settings, services: tuple[str, ...] = SERVICES
) -> None:
    names = dict.fromkeys((*services, settings.service, "deadletter"))
    for service in names:
        await ensure_stream(js, stream_config(settings, service, settings.stream_replicas))
