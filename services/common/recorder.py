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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg.sql import SQL, Identifier

TOPIC = "services.common.recorder:UnpipelinedProcessRecorder"


class UnpipelinedProcessRecorder(PostgresProcessRecorder):
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # Same statements and transaction as the library's insert_events, minus
        # conn.pipeline(), and with the rows' composite values built before the transaction
        # opens: the library builds them after LOCK TABLE, so a large save held the table lock
        # (and sat idle in transaction, which eventsourcing times out after 5 s) while Python
        # worked.
        rows = [
            self.construct_pg_stored_event(
                e.originator_id, e.originator_version, e.topic, e.state
            )
            for e in stored_events
        ]
        with self.datastore.get_connection() as conn, conn.transaction():
            with conn.cursor() as cursor:
                self._insert_events(cursor, stored_events, **kwargs)  # tracking record, if any
            if not stored_events:
                return []
            with conn.cursor() as cursor:
                self._lock_table(cursor)
                self._notify_channel(cursor)
                cursor.execute(self.insert_events_statement, (rows,))
                return self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)

    def has_exact_tracking(self, application_name: str, notification_id: int) -> bool:
        statement = SQL(
            "SELECT 1 FROM {}.{} WHERE application_name = %s AND notification_id = %s"
        ).format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (application_name, notification_id))
            return cursor.fetchone() is not None
