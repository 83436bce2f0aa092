"""Duplicate-key reservations for claims registered before duplicate detection existed.

A claim registered since reserves its duplicate key in the statement that saves it
(services/claims/duplicate_guard.py); an older claim holds none, so an identical new claim would
not be refused. Once per deployment, at the claims service's start (a background task), every
open original claim of the event store reserves its key unless the key is taken already (the
first registered wins; older duplicates among themselves stay as they are), and a marker row
records that it was done. Idempotent and safe beside live registrations (`ON CONFLICT DO
NOTHING`: a key a new claim took meanwhile stays with it).
"""

from __future__ import annotations

import logging
from typing import cast

from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from services.claims.application import ClaimsApplication
from services.claims.domain import Claim, Frequency
from services.claims.domain import duplicates as rules
from services.common.recorder import REQUESTS_TABLE, UnpipelinedProcessRecorder

log = logging.getLogger(__name__)
# No request id can be it (it holds spaces); tenant "" is no tenant's.
MARKER = ("", "duplicate-key backfill v1", "done")
BATCH = 1000


def reserve_existing_claims(app: ClaimsApplication) -> int:
    """Reserve the keys of the open original claims stored before reservations existed; how
    many were reserved (0 when done before)."""
    recorder = cast(UnpipelinedProcessRecorder, app.recorder)
    schema = recorder.datastore.schema
    requests = Identifier(schema, REQUESTS_TABLE)
    events = Identifier(schema, recorder.events_table_name)
    with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(SQL("SELECT 1 FROM {} WHERE tenant_id = %s AND request_id = %s")
                       .format(requests), MARKER[:2])
        if cursor.fetchone() is not None:
            return 0
        cursor.execute(SQL("SELECT originator_id FROM {} WHERE originator_version = 1 AND "
                           "topic = %s ORDER BY notification_id").format(events),
                       (get_topic(Claim.ClaimRegistered),))
        ids = [row["originator_id"] if isinstance(row, dict) else row[0]
               for row in cursor.fetchall()]
    rows: list[tuple[str, str, str]] = []
    for claim_id in ids:
        claim: object = app.repository.get(claim_id)
        if not isinstance(claim, Claim) or claim.frequency is not Frequency.ORIGINAL:
            continue
        if not rules.is_open(claim.status, claim.frequency):
            continue
        token = app.duplicates.token(claim.tenant_id, claim.data, Frequency.ORIGINAL)
        rows.append((claim.tenant_id, rules.reservation(token), str(claim.id)))
    reserved = 0
    insert = SQL("INSERT INTO {} (tenant_id, request_id, fingerprint) SELECT * FROM "
                 "unnest(%s::text[], %s::text[], %s::text[]) ON CONFLICT DO NOTHING"
                 ).format(requests)
    with recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
        for start in range(0, len(rows), BATCH):
            batch = rows[start:start + BATCH]
            cursor.execute(insert, [list(column) for column in zip(*batch, strict=True)])
            reserved += cursor.rowcount
        cursor.execute(SQL("INSERT INTO {} (tenant_id, request_id, fingerprint) "
                           "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING").format(requests),
                       MARKER)
        if not conn.autocommit:
            conn.commit()
    if ids:
        log.info("claims: duplicate keys reserved for %d of %d claims stored before "
                 "duplicate detection", reserved, len(ids))
    return reserved
