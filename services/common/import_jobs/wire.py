"""`oonledger.common.v1.ImportJob` from a stored job: the one place that message is built."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from oonledger.common.v1 import import_job_pb2 as pb
from services.common.errors import InvalidArgument
from services.common.import_jobs.store import (
    FAILED,
    PROCESSING,
    SUCCEEDED,
    UPLOADING,
    FindingRow,
    JobRow,
)

STATES = {
    UPLOADING: pb.IMPORT_JOB_STATE_UPLOADING,
    PROCESSING: pb.IMPORT_JOB_STATE_PROCESSING,
    SUCCEEDED: pb.IMPORT_JOB_STATE_SUCCEEDED,
    FAILED: pb.IMPORT_JOB_STATE_FAILED,
}


def state_filter(state: int) -> str | None:
    """The stored state a request's `state` filter names; None for UNSPECIFIED (every state)."""
    if state == pb.IMPORT_JOB_STATE_UNSPECIFIED:
        return None
    for stored, value in STATES.items():
        if value == state:
            return stored
    raise InvalidArgument(f"not an import job state ({state})", "state")


def _timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def job_message(job: JobRow, findings: Sequence[FindingRow] = ()) -> pb.ImportJob:
    return pb.ImportJob(
        job_id=str(job.job_id),
        kind=job.kind,
        state=STATES[job.state],
        phase=job.phase,
        file_sha256=job.file_sha256,
        total_bytes=job.total_bytes,
        next_sequence=job.next_sequence,
        interchange_control_number=job.interchange_control_number,
        progress=pb.ImportProgress(
            items_read=job.items_read,
            items_stored=job.items_stored,
            items_rejected=job.items_rejected,
            items_processed=job.items_processed,
            payments_posted=job.payments_posted,
            fees_billed=job.fees_billed,
            bytes_received=job.bytes_received,
        ),
        findings=[
            pb.ImportFinding(position=f.position, location=f.location, field=f.field,
                             message=f.message)
            for f in findings
        ],
        findings_total=job.findings_total,
        error=job.error,
        created_at=_timestamp(job.created_at),
        updated_at=_timestamp(job.updated_at),
        finished_at=_timestamp(job.finished_at),
        file_name=job.file_name,
    )
