"""Every service's event recorder: eventsourcing's, minus psycopg pipeline mode for inserts.

Bulk paths (a remittance file, a claims import) save thousands of events in one transaction.
eventsourcing 9.5.6's pipelined insert (LOCK, NOTIFY, INSERT in a psycopg pipeline) hung for
good in `Pipeline.sync` — the server waiting in ClientRead — with every psycopg wait function
(wait_c, wait_poll, wait_epoll, wait_select). The same statements sent one after another on one
cursor, inside the same transaction, never hung and are as fast (bench/settlement_bench.py).
Selected through the library's own `PROCESS_RECORDER_TOPIC` setting.

It also answers "was this exact upstream event processed?" — the library's `has_tracking_id`
answers "was any event at or after it processed?", which skips an older event that is retried
after a newer one succeeded (a transient failure, or two replicas sharing a consumer).

And it keeps `event_index` (notification id → tenant, event type) in the same transaction as
the events: stored events are encrypted, and reconciliation needs per-tenant counts without
decrypting the log (services/ops/pipeline.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg.sql import SQL, Identifier

TOPIC = "services.common.recorder:UnpipelinedProcessRecorder"
EVENT_INDEX_TABLE = "event_index"


class UnpipelinedProcessRecorder(PostgresProcessRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        table = Identifier(EVENT_INDEX_TABLE)
        self.sql_create_statements.extend([
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (notification_id bigint PRIMARY KEY, "
                "tenant_id text NOT NULL, event_type text NOT NULL)").format(schema, table),
            SQL("CREATE INDEX IF NOT EXISTS event_index_by_tenant ON {}.{} "
                "(tenant_id, notification_id)").format(schema, table),
        ])
        self._index_statement = SQL(
            "INSERT INTO {}.{} SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])"
        ).format(schema, table)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Same steps and transaction as the library's insert_events, minus conn.pipeline().
        with self.datastore.get_connection() as conn, conn.transaction():
            with conn.cursor() as cursor:
                self._insert_events(cursor, stored_events, **kwargs)  # tracking record, if any
            if not stored_events:
                return []
            with conn.cursor() as cursor:
                self._insert_stored_events(cursor, stored_events, **kwargs)
                ids = self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)
                index: Sequence[tuple[str, str]] = kwargs.get("event_index") or ()
                if ids and index:
                    tenants, types = zip(*index, strict=True)
                    cursor.execute(self._index_statement, (list(ids), list(tenants), list(types)))
                return ids

    def has_exact_tracking(self, application_name: str, notification_id: int) -> bool:
        statement = SQL(
            "SELECT 1 FROM {}.{} WHERE application_name = %s AND notification_id = %s"
        ).format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (application_name, notification_id))
            return cursor.fetchone() is not None
