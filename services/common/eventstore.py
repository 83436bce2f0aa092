"""The eventsourcing Application every service builds on: PostgreSQL, own schema, AES at rest."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast
from uuid import UUID

import psycopg
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    project_aggregate,
)
from eventsourcing.domain import CanSnapshotAggregate, DomainEventProtocol
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Notification,
    ProcessRecorder,
    Recording,
    StoredEvent,
    Tracking,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import get_topic
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import Composed

from services.common.aggregate import TenantAggregate
from services.common.contracts import PublishedLanguage
from services.common.errors import Conflict, EventTooLarge, NotFound
from services.common.group_commit import GroupCommit
from services.common.recorder import TOPIC as RECORDER_TOPIC
from services.common.recorder import RequestRecord, RequestReused, UnpipelinedProcessRecorder
from services.common.settings import Settings
from services.common.wire import ENVELOPE_OVERHEAD_BYTES, StoredMessage, stored_message

A = TypeVar("A", bound=TenantAggregate)
log = logging.getLogger(__name__)


@dataclass
class SaveUnit:
    """One caller's save, ready to be committed with others' (nothing in it is consumed by a
    failed attempt, so the group committer can retry it alone)."""

    stored: list[StoredEvent]
    index: list[tuple[str, str]]
    requests: set[RequestRecord]
    trackings: list[Tracking]
    messages: list[StoredMessage | None] = field(default_factory=list)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n / 1024:.0f} KiB"


class BudgetedMapper(Mapper[UUID]):
    """eventsourcing's mapper, refusing an event whose wire message would exceed the budget.

    Checked where each new event is serialised anyway, before anything is stored: the length of
    the JSON the transcoder just produced, plus the envelope's fixed overhead, bounds the wire
    envelope (services/common/wire.py), so nothing is encoded twice. Snapshots never travel and
    are not checked.
    """

    def __init__(self, transcoder: Transcoder, max_event_bytes: int, **kwargs: Any) -> None:
        super().__init__(transcoder, **kwargs)
        self.max_event_bytes = max_event_bytes

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if isinstance(domain_event, CanSnapshotAggregate):
            return super().to_stored_event(domain_event)
        # eventsourcing 9.5.6's Mapper.to_stored_event, with the check between its steps.
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        stored_state = self.transcoder.encode(event_state)
        bound = len(stored_state) + ENVELOPE_OVERHEAD_BYTES
        if bound > self.max_event_bytes:
            raise EventTooLarge(
                f"the {type(domain_event).__name__} event would be about {_size(bound)}, over "
                f"the {_size(self.max_event_bytes)} message budget (OON_MAX_EVENT_BYTES); "
                "nothing was stored"
            )
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(domain_event.__class__),
            state=stored_state,
        )


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
    # Ids `find` recently found no aggregate for (see `find`).
    ABSENT_CACHE_SIZE = 10_000
    # The service's integration-event contracts (services/<svc>/published.py); None: every
    # event leaves as canonical JSON.
    published_language: PublishedLanguage | None = None

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
        self._subject_prefix = settings.subject_prefix_for(settings.service)
        # Aggregates a batched reaction changed and has not saved yet, per thread
        # (`reacting_in_batch`): later reactions of the batch load them from here.
        self._batch_overlay = threading.local()
        self._absent: OrderedDict[UUID, None] = OrderedDict()
        self._absent_lock = threading.Lock()
        super().__init__(env=app_env)
        # Concurrent saves from many threads share one statement (services/common/
        # group_commit.py); a version conflict or a reused request id fails only its caller.
        self._commits: GroupCommit[SaveUnit, list[int]] = GroupCommit(
            self._commit_units, name=f"{settings.service}-commit",
            isolate=(IntegrityError, RequestReused))

    def close(self) -> None:
        self._commits.close()
        super().close()

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder stores new events and the tracking record in one transaction.
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        return cast(ProcessRecorder, self.recorder)

    def construct_mapper(self) -> Mapper[UUID]:
        plain: Mapper[UUID] = self.factory.mapper(transcoder=self.construct_transcoder())
        return BudgetedMapper(
            plain.transcoder,
            self.settings.max_event_bytes,
            compressor=plain.compressor,
            cipher=plain.cipher,
        )

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

    # -- saving: group commit, event index, request fingerprints, integration messages -----------
    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Every save also records the tenant and type of each new event (the recorder's
        `event_index`, for per-tenant pipeline counts), the fingerprints of the client requests
        behind its events (so a request id reused for a different request is refused whatever
        it targets), and each event's integration message, built here once (the relay
        publishes the stored bytes). The save joins whatever other threads are saving at the
        moment in one statement (group commit); the saved aggregates then become the cache's
        copy, so the next command does not re-read and decrypt what was just written."""
        events = processing_event.events
        requests = {
            (str(meta.get("tenant_id", "")), str(meta["request_id"]), str(fingerprint))
            for event in events
            if isinstance(meta := getattr(event, "meta", None), dict)
            and (fingerprint := meta.get("request_fingerprint"))
            and meta.get("request_id")
        }
        # A uniqueness reservation (meta `reserves`: a key no request id can be, it holds a
        # space) is recorded like a request, its fingerprint the aggregate holding it: another
        # aggregate reserving the key is refused in the same statement (RequestReused).
        requests |= {
            (str(meta.get("tenant_id", "")), str(meta["reserves"]), str(event.originator_id))
            for event in events
            if isinstance(meta := getattr(event, "meta", None), dict) and meta.get("reserves")
        }
        trackings = list(processing_event.saved_kwargs.get("trackings", ()))
        if processing_event.tracking is not None:
            trackings.append(processing_event.tracking)
        stored = [self.mapper.to_stored_event(event) for event in events]
        now = datetime.now(UTC)
        unit = SaveUnit(
            stored=stored,
            index=[(getattr(event, "meta", {}).get("tenant_id", ""), type(event).__name__)
                   for event in events],
            requests=requests,
            trackings=trackings,
            messages=[self._message(event, now) for event in events],
        )
        ids = self._commits.submit(unit)
        recordings = [
            Recording(event, Notification(
                id=nid, originator_id=s.originator_id, originator_version=s.originator_version,
                topic=s.topic, state=s.state))
            for event, s, nid in zip(events, stored, ids, strict=True)
        ]
        if self.repository.cache is not None:
            for aggregate in processing_event.aggregates.values():
                self._cache_saved(aggregate)
        return recordings

    def _message(self, event: Any, recorded_at: datetime) -> StoredMessage | None:
        try:
            return stored_message(self.settings.service, self._subject_prefix, event,
                                  recorded_at, self.published_language)
        except Exception as exc:  # the relay builds it then, and reports why it cannot
            log.debug("%s: message of %s not built at save: %s", self.settings.service,
                      type(event).__name__, exc)
            return None

    def _commit_units(self, units: list[SaveUnit]) -> list[list[int]]:
        """Commit many callers' saves in one statement; each caller's notification ids."""
        recorder = cast(UnpipelinedProcessRecorder, self.recorder)
        if len(units) == 1:
            unit = units[0]
            stored, index, messages = unit.stored, unit.index, unit.messages
            requests: set[RequestRecord] = unit.requests
            trackings = unit.trackings
        else:
            stored = [e for u in units for e in u.stored]
            index = [i for u in units for i in u.index]
            messages = [m for u in units for m in u.messages]
            requests = {r for u in units for r in u.requests}
            trackings = [t for u in units for t in u.trackings]
        ids = list(recorder.insert_events(
            stored, event_index=index, requests=requests, trackings=trackings,
            envelopes=messages) or [])
        if len(ids) != len(stored):
            raise IntegrityError(f"expected {len(stored)} notification ids, got {len(ids)}")
        out, start = [], 0
        for unit in units:
            out.append(ids[start:start + len(unit.stored)])
            start += len(unit.stored)
        return out

    def _cache_saved(self, aggregate: Any) -> None:
        """The saved aggregate is the committed state: cache it (unless a newer one is)."""
        cache = self.repository.cache
        assert cache is not None
        try:
            current = cache.get(aggregate.id)
        except KeyError:
            current = None
        if current is None or current.version <= aggregate.version:
            cache.put(aggregate.id, aggregate)
        self._forget_absent(aggregate.id)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot the aggregate just saved, from memory, when the event at the interval is its
        last one (the usual case): the library rebuilds it from the database first (the
        previous snapshot and up to `interval` events, decrypted and decoded), which cost a
        negotiation save every 50 events more than two whole MakeOffers. Otherwise, the
        library's way for that event."""
        if not (self.snapshots and self.snapshotting_intervals):
            return
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            if aggregate is None:
                continue
            kind = type(aggregate)
            interval = self.snapshotting_intervals.get(kind)
            if interval is None or event.originator_version % interval != 0:
                continue
            snapshot_class = getattr(kind, "Snapshot", type(self).snapshot_class)
            if (aggregate.version == event.originator_version and snapshot_class is not None
                    and kind not in self.snapshotting_projectors):
                self.snapshots.put([snapshot_class.take(aggregate)])
            else:
                self.take_snapshot(
                    event.originator_id, version=event.originator_version,
                    projector_func=self.snapshotting_projectors.get(kind, project_aggregate))

    # -- loading --------------------------------------------------------------------------
    def load(self, aggregate_id: UUID, tenant_id: str, kind: type[A]) -> A:
        """Load an aggregate of this tenant; another tenant's aggregate is simply not found."""
        if self._absent_in_batch(aggregate_id):
            raise NotFound(f"{kind.__name__} {aggregate_id} not found")
        overlay: dict[UUID, Any] | None = getattr(self._batch_overlay, "aggregates", None)
        try:
            if overlay is not None and aggregate_id in overlay:
                aggregate: Any = overlay[aggregate_id]
            else:
                self._evict_if_changed(aggregate_id)
                aggregate = self.repository.get(aggregate_id)
                if overlay is not None:
                    overlay[aggregate_id] = aggregate
        except AggregateNotFoundError:
            raise NotFound(f"{kind.__name__} {aggregate_id} not found") from None
        if not isinstance(aggregate, kind) or aggregate.tenant_id != tenant_id:
            raise NotFound(f"{kind.__name__} {aggregate_id} not found")
        return aggregate

    def _evict_if_changed(self, aggregate_id: UUID) -> None:
        """A cached aggregate (the object a caller saved) that was changed after its save and
        not saved again holds uncommitted state: drop it, the next read rebuilds."""
        cache = self.repository.cache
        if cache is None:
            return
        try:
            cached = cache.get(aggregate_id)
        except KeyError:
            return
        if getattr(cached, "_pending_events", None):
            cache.get(aggregate_id, evict=True)

    @contextmanager
    def reacting_in_batch(self) -> Iterator[dict[UUID, Any]]:
        """While in this block, `load`/`find` in this thread return the batch's own copy of
        each aggregate (with the changes earlier reactions of the batch made and have not
        saved yet); the dict maps ids to those copies (created aggregates are added by the
        caller)."""
        aggregates: dict[UUID, Any] = {}
        self._batch_overlay.aggregates = aggregates
        self._batch_overlay.absent = set()
        try:
            yield aggregates
        finally:
            self._batch_overlay.aggregates = None
            self._batch_overlay.absent = None

    def absent_in_batch(self, aggregate_ids: Iterable[UUID]) -> None:
        """Inside `reacting_in_batch`: these ids were read for the batch and do not exist (a
        batch's prefetch, processors.py); until the batch creates one of them, `find` answers
        None and `load` NotFound without asking the database again."""
        absent: set[UUID] | None = getattr(self._batch_overlay, "absent", None)
        if absent is None:
            raise RuntimeError("absent_in_batch outside reacting_in_batch")
        absent.update(aggregate_ids)

    def _absent_in_batch(self, aggregate_id: UUID) -> bool:
        absent: set[UUID] | None = getattr(self._batch_overlay, "absent", None)
        if not absent or aggregate_id not in absent:
            return False
        return aggregate_id not in self._batch_overlay.aggregates  # not created by the batch

    def find(self, aggregate_id: UUID, tenant_id: str, kind: type[A]) -> A | None:
        """The aggregate, or None when it does not exist (or is another tenant's).

        Looking for an aggregate that does not exist is common on command paths (negotiation
        asks for a case's federal IDR dispute on every offer): the library answers a miss with
        two queries (snapshots, then events). An id found absent is remembered, and the next
        `find` asks the event table one cheap question (any event?) instead; the answer always
        comes from the database, so an aggregate another process created since is found."""
        if self._absent_in_batch(aggregate_id):
            return None
        overlay: dict[UUID, Any] | None = getattr(self._batch_overlay, "aggregates", None)
        if (overlay is None or aggregate_id not in overlay) and self._still_absent(aggregate_id):
            return None
        try:
            return self.load(aggregate_id, tenant_id, kind)
        except NotFound:
            self._note_absent(aggregate_id)
            return None

    def _still_absent(self, aggregate_id: UUID) -> bool:
        with self._absent_lock:
            if aggregate_id not in self._absent:
                return False
        if self.recorder.select_events(aggregate_id, limit=1):
            self._forget_absent(aggregate_id)
            return False
        return True

    def _note_absent(self, aggregate_id: UUID) -> None:
        cache = self.repository.cache
        if cache is None:
            return  # without the cache, "another tenant's" and "none" look alike here
        try:
            cache.get(aggregate_id)
            return  # it exists (another tenant's, or saved meanwhile by this process)
        except KeyError:
            pass
        with self._absent_lock:
            self._absent[aggregate_id] = None
            self._absent.move_to_end(aggregate_id)
            while len(self._absent) > self.ABSENT_CACHE_SIZE:
                self._absent.popitem(last=False)

    def _forget_absent(self, aggregate_id: UUID) -> None:
        with self._absent_lock:
            self._absent.pop(aggregate_id, None)

    # -- saving ---------------------------------------------------------------------------
    def save_all(self, *aggregates: TenantAggregate | None) -> None:
        """Save; a concurrent write to the same aggregate version becomes `Conflict` (ABORTED)."""
        # The library's `save`, with the events collected here: its `collect_events` asks
        # `isinstance` of two runtime-checkable protocols per aggregate (~12 us each time on
        # CPython 3.11); these are always aggregates.
        processing = ProcessingEvent[UUID]()
        for aggregate in aggregates:
            if aggregate is not None:
                processing.events.extend(aggregate.collect_events())
                processing.aggregates[aggregate.id] = aggregate
        try:
            recordings = self._record(processing)
            self._take_snapshots(processing)
        except IntegrityError as exc:
            # The cache holds only committed state (fast-forwarded on the next read).
            raise Conflict("concurrent modification; re-read and retry") from exc
        self._notify(recordings)
        self.notify(processing.events)  # deprecated in the library; called as `save` does

    def save_tracked(self, tracking: Tracking, *aggregates: TenantAggregate | None) -> None:
        """Save the reaction's new events and the upstream position in one transaction."""
        processing = ProcessingEvent[UUID](tracking=tracking)
        processing.collect_events(*aggregates)
        try:
            recordings = self._record(processing)
            if processing.events:
                self._take_snapshots(processing)
                self._notify(recordings)
        except IntegrityError as exc:
            if self.is_processed(tracking):
                raise AlreadyProcessed(str(tracking)) from None
            raise Conflict("concurrent modification while reacting to an event") from exc

    def save_tracked_batch(
        self, trackings: Sequence[Tracking], events: Sequence[Any],
        aggregates: Sequence[TenantAggregate] = (),
    ) -> None:
        """Save many reactions' events and all their upstream positions in one transaction
        (IntegrityError when any of it clashes: the caller retries them one at a time)."""
        processing = ProcessingEvent[UUID]()
        processing.collect_events(*events)
        for aggregate in aggregates:
            processing.aggregates[aggregate.id] = aggregate
        processing.saved_kwargs["trackings"] = list(trackings)
        recordings = self._record(processing)
        if processing.events:
            self._take_snapshots(processing)
            self._notify(recordings)

    def fetch_one(self, statement: Composed, params: Sequence[Any]) -> tuple[Any, ...] | None:
        """One row of a read of this service's own tables (its read models), on the event
        store's connection pool."""
        recorder = cast(UnpipelinedProcessRecorder, self.recorder)
        return recorder.fetch_one(statement, params)

    def reservation_holder(self, tenant_id: str, key: str) -> str:
        """The id of the aggregate holding a uniqueness reservation ("" when none does)."""
        recorder = cast(UnpipelinedProcessRecorder, self.recorder)
        return recorder.recorded_fingerprint(tenant_id, key)

    def processed_among(self, application_name: str, notification_ids: Sequence[int]) -> set[int]:
        """Which of these upstream events were processed (exactly, as `is_processed`)."""
        recorder = cast(UnpipelinedProcessRecorder, self.recorder)
        return recorder.tracked_among(application_name, notification_ids)

    def is_processed(self, tracking: Tracking) -> bool:
        """Whether this exact upstream event was tracked.

        Not eventsourcing's `has_tracking_id`: that answers "max tracked id >= this id", which
        would skip an event redelivered after a later one succeeded.
        """
        recorder = cast(UnpipelinedProcessRecorder, self.recorder)
        return recorder.has_exact_tracking(tracking.application_name, tracking.notification_id)
