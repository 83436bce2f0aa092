"""Every service's event recorder: eventsourcing's, minus psycopg pipeline mode for inserts.

Bulk paths (a remittance file, a claims import) save thousands of events in one transaction.
eventsourcing 9.5.6's pipelined insert (LOCK, NOTIFY, INSERT in a psycopg pipeline) hung for
good in `Pipeline.sync` — the server waiting in ClientRead — with every psycopg wait function
(wait_c, wait_poll, wait_epoll, wait_select). The same statements sent one after another on one
cursor, inside the same transaction, never hung and are as fast (bench/settlement_bench.py).
Selected through the library's own `PROCESS_RECORDER_TOPIC` setting.

It keeps the request fingerprints of the service (`request_fingerprints` table): each save
passes the (tenant, request id, fingerprint) of its events (`ServiceApplication._record`), and a
request id already recorded with another fingerprint refuses the whole save, in its transaction,
with `RequestReused` (ALREADY_EXISTS) — whichever aggregate the reused id now targets.

It also answers "was this exact upstream event processed?" — the library's `has_tracking_id`
answers "was any event at or after it processed?", which skips an older event that is retried
after a newer one succeeded (a transient failure, or two replicas sharing a consumer).

And it keeps `event_index` (notification id → tenant, event type) in the same transaction as
the events: stored events are encrypted, and reconciliation needs per-tenant counts without
decrypting the log (services/ops/pipeline.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from services.common.errors import AlreadyExists

TOPIC = "services.common.recorder:UnpipelinedProcessRecorder"
EVENT_INDEX_TABLE = "event_index"
REQUESTS_TABLE = "request_fingerprints"

# (tenant id, request id, fingerprint) of the client requests a save records.
RequestRecord = tuple[str, str, str]


class RequestReused(AlreadyExists):
    """A request id already recorded for a different request (another fingerprint)."""


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
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (tenant_id text NOT NULL, "
                "request_id text NOT NULL, fingerprint text NOT NULL, "
                "PRIMARY KEY (tenant_id, request_id))"
            ).format(schema, Identifier(REQUESTS_TABLE)),
        ])
        self._index_statement = SQL(
            "INSERT INTO {}.{} SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])"
        ).format(schema, table)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Same statements and transaction as the library's insert_events, minus
        # conn.pipeline(), and with the rows' composite values built before the transaction
        # opens: the library builds them after LOCK TABLE, so a large save held the table lock
        # (and sat idle in transaction, which eventsourcing times out after 5 s) while Python
        # worked.
        requests: Collection[RequestRecord] = kwargs.pop("requests", ())
        rows = [
            self.construct_pg_stored_event(
                e.originator_id, e.originator_version, e.topic, e.state
            )
            for e in stored_events
        ]
        with self.datastore.get_connection() as conn, conn.transaction():
            if requests:
                with conn.cursor() as cursor:
                    self._record_requests(cursor, requests)
            with conn.cursor() as cursor:
                self._insert_events(cursor, stored_events, **kwargs)  # tracking record, if any
            if not stored_events:
                return []
            with conn.cursor() as cursor:
                self._lock_table(cursor)
                self._notify_channel(cursor)
                cursor.execute(self.insert_events_statement, (rows,))
                ids = self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)
                index: Sequence[tuple[str, str]] = kwargs.get("event_index") or ()
                if ids and index:
                    tenants, types = zip(*index, strict=True)
                    cursor.execute(self._index_statement, (list(ids), list(tenants), list(types)))
                return ids

    def _record_requests(self, cursor: Cursor[Any], requests: Collection[RequestRecord]) -> None:
        """Record new request ids; RequestReused when one is known with another fingerprint.

        Two statements: the second sees rows a concurrent transaction committed while the first
        waited on them (READ COMMITTED), so a race between two bodies is caught too.
        """
        table = Identifier(self.datastore.schema, REQUESTS_TABLE)
        tenants, ids, prints = (list(column) for column in zip(*requests, strict=True))
        cursor.execute(
            SQL(
                "INSERT INTO {} (tenant_id, request_id, fingerprint) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) "
                "ON CONFLICT (tenant_id, request_id) DO NOTHING"
            ).format(table),
            (tenants, ids, prints),
        )
        cursor.execute(
            SQL(
                "SELECT r.request_id FROM {} r JOIN unnest(%s::text[], %s::text[], %s::text[]) "
                "AS i(tenant_id, request_id, fingerprint) "
                "ON r.tenant_id = i.tenant_id AND r.request_id = i.request_id "
                "WHERE r.fingerprint <> i.fingerprint LIMIT 1"
            ).format(table),
            (tenants, ids, prints),
        )
        reused = cursor.fetchone()
        if reused is not None:
            request_id = reused["request_id"] if isinstance(reused, dict) else reused[0]
            raise RequestReused(f"request_id {request_id} was already used for a different request")

    def has_exact_tracking(self, application_name: str, notification_id: int) -> bool:
        statement = SQL(
            "SELECT 1 FROM {}.{} WHERE application_name = %s AND notification_id = %s"
        ).format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (application_name, notification_id))
            return cursor.fetchone() is not None
