"""The event recorder settlement uses: eventsourcing's, without psycopg pipeline mode for inserts.

A remittance posts every claim of a file in one transaction. With ~15,000+ events in one save,
eventsourcing 9.5.6's pipelined insert (LOCK, NOTIFY, INSERT in a psycopg pipeline) hung for
good in `Pipeline.sync` — the server waiting in ClientRead — with every psycopg wait function
(wait_c, wait_poll, wait_epoll, wait_select). The same statements sent one after another on one
cursor, inside the same transaction, never hung and are as fast (bench/settlement_bench.py).
Selected through the library's own `PROCESS_RECORDER_TOPIC` setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder

TOPIC = "services.settlement.event_recorder:UnpipelinedProcessRecorder"


class UnpipelinedProcessRecorder(PostgresProcessRecorder):
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
                return self._fetch_ids_after_insert_events(cursor, stored_events, **kwargs)
