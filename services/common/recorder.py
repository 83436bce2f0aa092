"""Every service's event recorder: eventsourcing's tables, written by one statement per save.

eventsourcing 9.5.6 saves with LOCK TABLE, NOTIFY and INSERT in a psycopg pipeline (which hung
for good in `Pipeline.sync` on bulk saves), plus our tracking, index and request statements:
about nine round trips, the table lock held across all of them and the commit's fsync. Here a
save (usually a whole group commit of many callers' saves, services/common/group_commit.py) is
ONE statement on an autocommit connection: its CTEs take the log's advisory lock, write the
request fingerprints, tracking records, events, index rows and integration messages, and
NOTIFY — one round trip, committed by itself. The ordering argument is in docs/decisions.md
("Group commit, one statement, messages built once"). Selected through the library's own
`PROCESS_RECORDER_TOPIC` setting.

It keeps the request fingerprints of the service (`request_fingerprints` table): each save
passes the (tenant, request id, fingerprint) of its events (`ServiceApplication._record`), and a
request id already recorded with another fingerprint refuses the whole save, in its statement,
with `RequestReused` (ALREADY_EXISTS) — whichever aggregate the reused id now targets. The
same table holds uniqueness reservations: an event whose meta names a key in `reserves` records
(tenant, key, its aggregate id), so a second aggregate claiming the key is refused in the same
statement that would have saved it (the claims service's duplicate claims, docs/claims.md).

It also answers "was this exact upstream event processed?" — the library's `has_tracking_id`
answers "was any event at or after it processed?", which skips an older event that is retried
after a newer one succeeded (a transient failure, or two replicas sharing a consumer).

And it keeps `event_index` (notification id → tenant, event type, and the event's integration
message and subject, built once when it was saved) in the same statement as the events: stored
events are encrypted, reconciliation needs per-tenant counts without decrypting the log
(services/ops/pipeline.py), and the relay publishes the stored message as it is.
"""

from __future__ import annotations

import hashlib
import weakref
from collections.abc import Collection, Iterable, Sequence
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from eventsourcing.utils import retry
from psycopg.sql import SQL, Composable, Composed, Identifier

from services.common.errors import AlreadyExists
from services.common.wire import StoredMessage

TOPIC = "services.common.recorder:UnpipelinedProcessRecorder"
EVENT_INDEX_TABLE = "event_index"
REQUESTS_TABLE = "request_fingerprints"

# (tenant id, request id, fingerprint) of the client requests a save records.
RequestRecord = tuple[str, str, str]
# The SQLSTATE with which a save's statement aborts when a request id was reused.
REUSED_SQLSTATE = "OONRR"
_REUSED_FUNCTION = "oon_request_reused"


def serial_lock_key(schema: str) -> int:
    """The advisory lock that serialises the writers of a schema's event log."""
    digest = hashlib.sha256(f"events:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _distinct_requests(requests: Iterable[RequestRecord]) -> list[RequestRecord]:
    """One row per (tenant, request id); two fingerprints for one id in a save: reused."""
    seen: dict[tuple[str, str], str] = {}
    for tenant, request_id, fingerprint in requests:
        known = seen.setdefault((tenant, request_id), fingerprint)
        if known != fingerprint:
            raise RequestReused(
                f"request_id {request_id} was already used for a different request",
                request_id)
    return [(tenant, request_id, fp) for (tenant, request_id), fp in seen.items()]


class RequestReused(AlreadyExists):
    """A request id already recorded for a different request (another fingerprint).

    `request_id` names it: a caller's request id, or a uniqueness reservation (an event whose
    meta has `reserves`, see `ServiceApplication._record`) already held by another aggregate.
    """

    def __init__(self, message: str, request_id: str = "") -> None:
        super().__init__(message)
        self.request_id = request_id


class UnpipelinedProcessRecorder(PostgresProcessRecorder):
    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        schema = Identifier(self.datastore.schema)
        table = Identifier(EVENT_INDEX_TABLE)
        self.sql_create_statements.extend([
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (notification_id bigint PRIMARY KEY, "
                "tenant_id text NOT NULL, event_type text NOT NULL)").format(schema, table),
            SQL("CREATE INDEX IF NOT EXISTS event_index_by_tenant ON {}.{} "
                "(tenant_id, notification_id)").format(schema, table),
            # The integration message, built once when the event is saved (the relay
            # publishes these bytes); NULL for events saved before it was kept here.
            SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS subject text, "
                "ADD COLUMN IF NOT EXISTS traceparent text, "
                "ADD COLUMN IF NOT EXISTS envelope bytea").format(schema, table),
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (tenant_id text NOT NULL, "
                "request_id text NOT NULL, fingerprint text NOT NULL, "
                "PRIMARY KEY (tenant_id, request_id))"
            ).format(schema, Identifier(REQUESTS_TABLE)),
            SQL(
                "DO $$ BEGIN CREATE FUNCTION {}.{}(request_id text) RETURNS boolean "
                "LANGUAGE plpgsql AS $f$ BEGIN RAISE EXCEPTION USING ERRCODE = {}, "
                "MESSAGE = request_id; END $f$; "
                "EXCEPTION WHEN duplicate_function OR unique_violation THEN NULL; END $$"
            ).format(schema, Identifier(_REUSED_FUNCTION), SQL("'" + REUSED_SQLSTATE + "'")),
        ])
        self._serial_key = serial_lock_key(self.datastore.schema)
        self._lock_timeout_set: weakref.WeakSet[Any] = weakref.WeakSet()
        # The save statement per shape (events, requests, trackings, index rows).
        self._statements: dict[tuple[bool, bool, bool, bool], bytes] = {}
        # The library's select statement per shape (gt, lte, desc, limit), rendered once.
        self._selects: dict[tuple[bool, bool, bool, bool], bytes] = {}

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        """The library's `select_events` (same statement, parameters, retries and rows), its
        statement rendered to bytes once per shape: the library composes it on every call
        (schema and table identifiers, four SQL fragments) and psycopg renders it again, 10-25
        us of CPU of a ~100 us query (docs/performance.md), and every command loads at least
        one aggregate (negotiation's MakeOffer asks twice: the case's new events, and whether
        it has a dispute)."""
        shape = (gt is not None, lte is not None, desc, limit is not None)
        statement = self._selects.get(shape)
        if statement is None:
            composed = self.select_events_statement
            if gt is not None:
                composed += SQL(" AND originator_version > %s")
            if lte is not None:
                composed += SQL(" AND originator_version <= %s")
            composed += SQL(" ORDER BY originator_version")
            composed += SQL(" DESC") if desc else SQL(" ASC")
            if limit is not None:
                composed += SQL(" LIMIT %s")
            statement = self._selects[shape] = composed.as_bytes(None)
        params: list[Any] = [originator_id]
        params.extend(value for value in (gt, lte, limit) if value is not None)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [
                StoredEvent(
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
                for row in curs.fetchall()
            ]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Record the events, their index rows and integration messages, the tracking
        records and the request fingerprints: one statement, one round trip (the connection
        is in autocommit mode, so the statement is its own transaction).

        Order of notification ids = order of commits: the statement takes a transaction-level
        advisory lock (held until its commit) before the first id is drawn, and every
        row-writing part reads from the CTE that takes it. See docs/decisions.md (group commit
        and the ordering argument). A request id already recorded with another fingerprint
        aborts the statement (RequestReused); a duplicate event version or tracking record is
        an IntegrityError, as from the library.
        """
        requests: Collection[RequestRecord] = kwargs.pop("requests", ())
        trackings: list[Tracking] = list(kwargs.pop("trackings", ()) or ())
        if kwargs.get("tracking") is not None:
            trackings.append(kwargs["tracking"])
        index: Sequence[tuple[str, str]] = kwargs.get("event_index") or ()
        envelopes: Sequence[StoredMessage | None] = kwargs.get("envelopes") or ()
        if not stored_events and not trackings:
            return []
        statement, params = self._save_statement(
            stored_events, requests, trackings, index, envelopes)
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            if conn not in self._lock_timeout_set:
                # The library sets it (LOCAL) before each LOCK TABLE; a single autocommit
                # statement takes its locks before anything in it could set it, so it is set
                # once per connection: a write blocked that long fails as an OperationalError.
                cursor.execute(SQL("SET lock_timeout = '{}s'").format(
                    SQL(str(int(self.datastore.lock_timeout)))))
                self._lock_timeout_set.add(conn)
            try:
                cursor.execute(statement, params)
            except psycopg.Error as exc:
                if exc.sqlstate == REUSED_SQLSTATE:
                    raise RequestReused(
                        f"request_id {exc.diag.message_primary} was already used for a "
                        "different request", exc.diag.message_primary or ""
                    ) from None
                raise
            row = cursor.fetchone()
        ids = (row["ids"] if isinstance(row, dict) else row[0]) if row else None
        return list(ids or [])

    def _save_statement(
        self,
        stored_events: Sequence[StoredEvent],
        requests: Collection[RequestRecord],
        trackings: Sequence[Tracking],
        index: Sequence[tuple[str, str]],
        envelopes: Sequence[StoredMessage | None],
    ) -> tuple[bytes, list[Any]]:
        """The statement's text depends only on which parts the save has (events, requests,
        trackings, index rows): built once per shape and kept as bytes, so no save composes
        SQL, psycopg's query cache hits and, from the fifth use, the server runs it prepared.
        The parameters are collected in the order of the statement's placeholders."""
        shape = (bool(stored_events), bool(requests), bool(trackings),
                 bool(stored_events) and bool(index))
        statement = self._statements.get(shape)
        if statement is None:
            statement = self._statements[shape] = self._compose_statement(*shape)
        params: list[Any] = []
        if stored_events:
            params.append(self._serial_key)
        if requests:
            distinct = _distinct_requests(requests)
            tenants, ids, prints = (list(column) for column in zip(*distinct, strict=True))
            params.extend([tenants, ids, prints, tenants, ids, prints])
        if trackings:
            params.append([t.application_name for t in trackings])
            params.append([t.notification_id for t in trackings])
        if stored_events:
            # Four parallel arrays sent in binary (the statement's %b): psycopg dumping an
            # array of composite rows as text (each state's bytes escaped) cost ~36 us of CPU
            # per event, these ~2 us (docs/performance.md).
            params.extend([
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ])
            params.append(self.channel_name)
            if index:
                tenants_, types = (list(column) for column in zip(*index, strict=True))
                messages = list(envelopes) or [None] * len(stored_events)
                params.extend([
                    [e.originator_id for e in stored_events],
                    [e.originator_version for e in stored_events],
                    tenants_, types,
                    [m.subject if m else None for m in messages],
                    [m.traceparent if m else None for m in messages],
                    [m.body if m else None for m in messages],
                ])
        return statement, params

    def _compose_statement(
        self, events: bool, requests: bool, trackings: bool, index: bool
    ) -> bytes:
        schema = self.datastore.schema
        parts: list[Composable] = []
        results: list[Composable] = [SQL("NULL::bigint[] AS ids")]
        source = SQL("")
        if events:
            # Every row-writing part reads from `serial`, so the lock is taken before any
            # of them runs (no notification id drawn, no request row written, before it).
            parts.append(SQL("serial AS MATERIALIZED (SELECT pg_advisory_xact_lock(%s) AS l)"))
            source = SQL("serial, ")
        if requests:
            parts.append(SQL(
                "req AS (INSERT INTO {} AS r (tenant_id, request_id, fingerprint) "
                "SELECT i.* FROM {}unnest(%s::text[], %s::text[], %s::text[]) "
                "AS i(tenant_id, request_id, fingerprint) "
                # DO UPDATE (to itself), not DO NOTHING: it waits for and then sees a row
                # a concurrent transaction committed meanwhile, so a race between two
                # bodies for one request id is caught too.
                "ON CONFLICT (tenant_id, request_id) DO UPDATE SET fingerprint = r.fingerprint "
                "RETURNING r.tenant_id, r.request_id, r.fingerprint)"
            ).format(Identifier(schema, REQUESTS_TABLE), source))
            parts.append(SQL(
                "reused AS MATERIALIZED (SELECT req.request_id FROM req JOIN "
                "unnest(%s::text[], %s::text[], %s::text[]) AS i(tenant_id, request_id, fp) "
                "ON req.tenant_id = i.tenant_id AND req.request_id = i.request_id "
                "WHERE req.fingerprint <> i.fp)"
            ))
            results.append(SQL("(SELECT count(*) FROM reused WHERE {}.{}(request_id)) AS r")
                           .format(Identifier(schema), Identifier(_REUSED_FUNCTION)))
        if trackings:
            parts.append(SQL(
                "trk AS (INSERT INTO {} (application_name, notification_id) "
                "SELECT t.* FROM {}unnest(%s::text[], %s::bigint[]) AS t(a, n))"
            ).format(Identifier(schema, self.tracking_table_name), source))
        if events:
            parts.append(SQL(
                "ins AS (INSERT INTO {} (originator_id, originator_version, topic, state) "
                "SELECT e.originator_id, e.originator_version, e.topic, e.state "
                "FROM serial, unnest(%b::{}[], %b::bigint[], %b::text[], %b::bytea[]) "
                "AS e(originator_id, originator_version, topic, state) "
                "RETURNING notification_id, originator_id, originator_version)"
            ).format(Identifier(schema, self.events_table_name),
                     SQL(self.datastore.originator_id_type)))
            parts.append(SQL("note AS (SELECT pg_notify(%s, '') FROM serial)"))
            results[0] = SQL(
                "(SELECT array_agg(notification_id ORDER BY notification_id) FROM ins) AS ids, "
                "(SELECT count(*) FROM note) AS n")
            if index:
                parts.append(SQL(
                    "idx AS (INSERT INTO {} (notification_id, tenant_id, event_type, subject, "
                    "traceparent, envelope) SELECT ins.notification_id, i.tenant_id, "
                    "i.event_type, i.subject, i.traceparent, i.envelope FROM ins JOIN "
                    "unnest(%b::uuid[], %b::bigint[], %b::text[], %b::text[], %b::text[], "
                    "%b::text[], %b::bytea[]) "
                    "AS i(oid, ver, tenant_id, event_type, subject, traceparent, envelope) "
                    "ON ins.originator_id = i.oid AND ins.originator_version = i.ver)"
                ).format(Identifier(schema, EVENT_INDEX_TABLE)))
        statement = SQL("WITH {} SELECT {}").format(
            SQL(", ").join(parts), SQL(", ").join(results))
        return statement.as_bytes(None)

    def fetch_one(self, statement: Composed, params: Sequence[Any]) -> tuple[Any, ...] | None:
        """One row of a read of the service's own tables, on the recorder's connection pool
        (a reaction's look-up: a connection of its own per event cost a backend start)."""
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, params)
            row = cursor.fetchone()
        if row is None:
            return None
        return tuple(row.values()) if isinstance(row, dict) else tuple(row)

    def recorded_fingerprint(self, tenant_id: str, request_id: str) -> str:
        """The fingerprint recorded for a request id (or the holder of a reservation); ""
        when none is."""
        statement = SQL(
            "SELECT fingerprint FROM {} WHERE tenant_id = %s AND request_id = %s"
        ).format(Identifier(self.datastore.schema, REQUESTS_TABLE))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (tenant_id, request_id))
            row = cursor.fetchone()
        if row is None:
            return ""
        return str(row["fingerprint"] if isinstance(row, dict) else row[0])

    def has_exact_tracking(self, application_name: str, notification_id: int) -> bool:
        statement = SQL(
            "SELECT 1 FROM {}.{} WHERE application_name = %s AND notification_id = %s"
        ).format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (application_name, notification_id))
            return cursor.fetchone() is not None

    def tracked_among(self, application_name: str, notification_ids: Sequence[int]) -> set[int]:
        """Which of these upstream events were processed (one round trip for a batch)."""
        statement = SQL(
            "SELECT notification_id FROM {}.{} WHERE application_name = %s "
            "AND notification_id = ANY(%s)"
        ).format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (application_name, list(notification_ids)))
            return {
                row["notification_id"] if isinstance(row, dict) else row[0]
                for row in cursor.fetchall()
            }

    def stored_messages(self, after: int, limit: int) -> list[tuple[int, StoredMessage | None]]:
        """(notification id, integration message) of the next events after `after`, in
        notification-id order; the message is None for an event saved without it (before
        messages were kept, or one whose message could not be built then)."""
        statement = SQL(
            "SELECT e.notification_id, i.subject, i.traceparent, i.envelope FROM {} e "
            "LEFT JOIN {} i ON i.notification_id = e.notification_id "
            "WHERE e.notification_id > %s ORDER BY e.notification_id LIMIT %s"
        ).format(Identifier(self.datastore.schema, self.events_table_name),
                 Identifier(self.datastore.schema, EVENT_INDEX_TABLE))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (after, limit), prepare=True)
            out = []
            for row in cursor.fetchall():
                nid, subject, traceparent, body = (
                list(row.values()) if isinstance(row, dict) else list(row))
                message = (StoredMessage(subject, traceparent or "", bytes(body))
                           if body is not None else None)
                out.append((int(nid), message))
            return out
