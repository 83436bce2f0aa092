"""Imports as jobs, shared by the claims (837) and settlement (835) services.

A file arrives in chunks through unary calls (the gateway forwards no client streams), is
checked against the size and SHA-256 stated when the job started, then read and stored in the
background in bounded batches, each committing a cursor: a restarted service resumes after the
last committed batch, and because every item's id derives from the job and its position, an
item stored before the restart is found, never stored twice.

- `store.py`: the job, chunk and finding tables in the service's schema (asyncpg).
- `runner.py`: the background worker, and the `ImportProcessor` a service plugs in.
- `jobs.py`: the use cases the servicers call (start, append, finish, get, list, watch).
- `wire.py`: `ImportJob` (oonledger.common.v1) from a stored job.
- `servicer.py`: the job RPCs of a servicer (`ImportJobMethods`, a mixin), written once.
"""

from services.common.import_jobs.jobs import ImportJobs, StartImport
from services.common.import_jobs.runner import (
    BatchResult,
    ImportJobRunner,
    ImportProcessor,
    JobFinding,
    JobOutcome,
    Report,
    WholeFileProcessorBase,
)
from services.common.import_jobs.store import ImportJobStore, JobRow, Progress

__all__ = [
    "BatchResult",
    "ImportJobRunner",
    "ImportJobStore",
    "ImportJobs",
    "ImportProcessor",
    "JobFinding",
    "JobOutcome",
    "JobRow",
    "Progress",
    "Report",
    "StartImport",
    "WholeFileProcessorBase",
]
