"""The eventsourcing Application every service builds on: PostgreSQL, own schema, AES at rest."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar, cast
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    ProcessRecorder,
    Tracking,
    Transcoding,
)
from psycopg.conninfo import conninfo_to_dict

from services.common.aggregate import TenantAggregate
from services.common.errors import Conflict, NotFound
from services.common.recorder import TOPIC as RECORDER_TOPIC
from services.common.recorder import UnpipelinedProcessRecorder
from services.common.settings import Settings

A = TypeVar("A", bound=TenantAggregate)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class AlreadyProcessed(Exception):
    """The upstream event was already handled (its tracking record exists)."""


def postgres_env(settings: Settings) -> dict[str, str]:
    """eventsourcing's POSTGRES_* settings from DATABASE_URL (host may be a socket directory)."""
    info = conninfo_to_dict(settings.database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(info.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(info.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(info.get("port") or "5432"),
        "POSTGRES_USER": str(info.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(info.get("password") or ""),
        "POSTGRES_SCHEMA": settings.schema,
        "POSTGRES_POOL_SIZE": str(settings.db_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.db_pool_size),
        # One tracking row per processed upstream event: order-independent exactly-once.
        "SINGLE_ROW_TRACKING": "f",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "CREATE_TABLE": "y",
    }


def ensure_schema(settings: Settings) -> None:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{settings.schema}"')


class ServiceApplication(Application[UUID]):
    """A service's event store. Subclasses add use cases; tune `snapshotting_intervals`."""

    AGGREGATE_CACHE_SIZE = 10_000

    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        ensure_schema(settings)
        app_env = postgres_env(settings)
        app_env.update(
            {
                "PROCESS_RECORDER_TOPIC": RECORDER_TOPIC,
                "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
                "CIPHER_KEY": settings.cipher_key,
                "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
                "AGGREGATE_CACHE_MAXSIZE": str(self.AGGREGATE_CACHE_SIZE),
                "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
            }
        )
        app_env.update(env or {})
        self._listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()
        super().__init__(env=app_env)

    def _record(self, processing_event: ProcessingEvent[UUID]) -> Any:
        # The tenant and type of each new event, for the recorder's `event_index`.
        processing_event.saved_kwargs["event_index"] = [
            (getattr(event, "meta", {}).get("tenant_id", ""), type(event).__name__)
            for event in processing_event.events
        ]
        return super()._record(processing_event)

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder stores new events and the tracking record in one transaction.
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        return cast(ProcessRecorder, self.recorder)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # -- notifications for the relay ------------------------------------------------------
    def on_recorded(self, listener: Callable[[], None]) -> None:
        """Call `listener` (from the saving thread) after each commit: wakes the relay."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def _notify(self, recordings: Any) -> None:  # called by Application.save after commit
        super()._notify(recordings)
        if recordings:
            for listener in list(self._listeners):
                listener()

    # -- loading --------------------------------------------------------------------------
    def load(self, aggregate_id: UUID, tenant_id: str, kind: type[A]) -> A:
        """Load an aggregate of this tenant; another tenant's aggregate is simply not found."""
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"{kind.__name__} {aggregate_id} not found") from None
        if not isinstance(aggregate, kind) or aggregate.tenant_id != tenant_id:
            raise NotFound(f"{kind.__name__} {aggregate_id} not found")
        return aggregate

    def find(self, aggregate_id: UUID, tenant_id: str, kind: type[A]) -> A | None:
        try:
            return self.load(aggregate_id, tenant_id, kind)
        except NotFound:
            return None

    # -- saving ---------------------------------------------------------------------------
    def save_all(self, *aggregates: TenantAggregate | None) -> None:
        """Save; a concurrent write to the same aggregate version becomes `Conflict` (ABORTED)."""
        try:
            self.save(*aggregates)
        except IntegrityError as exc:
            # The cache holds only committed state (fast-forwarded on the next read).
            raise Conflict("concurrent modification; re-read and retry") from exc

    def save_tracked(self, tracking: Tracking, *aggregates: TenantAggregate | None) -> None:
        """Save the reaction's new events and the upstream position in one transaction."""
        processing = ProcessingEvent[UUID](tracking=tracking)
        processing.collect_events(*aggregates)
        try:
            if processing.events:
                recordings = self._record(processing)
                self._take_snapshots(processing)
                self._notify(recordings)
            else:
                self.process_recorder.insert_tracking(tracking)
        except IntegrityError as exc:
            if self.is_processed(tracking):
                raise AlreadyProcessed(str(tracking)) from None
            raise Conflict("concurrent modification while reacting to an event") from exc

    def is_processed(self, tracking: Tracking) -> bool:
        """Whether this exact upstream event was tracked.

        Not eventsourcing's `has_tracking_id`: that answers "max tracked id >= this id", which
        would skip an event redelivered after a later one succeeded.
        """
        recorder = cast(UnpipelinedProcessRecorder, self.recorder)
        return recorder.has_exact_tracking(tracking.application_name, tracking.notification_id)
