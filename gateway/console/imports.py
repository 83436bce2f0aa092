"""An X12 file uploaded in the console becomes an import job of the service that owns its kind
(837: claims, 835: settlement) through that service's job calls, as the signed-in person:
StartImport, AppendImportChunk in order, FinishImportUpload; the job page follows GetImportJob.
The imports page lists the tenant's recent jobs of every kind (ListImportJobs of each service,
merged newest first), so a job started elsewhere (the API, the command line) is found too.

Both kinds go through the same code, keyed on the kind. A kind whose service does not serve
the job calls (the gateway's catalog has no `StartImport` for it) is shown as unavailable with
the reason, never silently hidden.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

from gateway.console.client import ServiceClient
from gateway.forwarding import Gateway
from gateway.statuses import CallFailure
from oonledger.claims.v1 import claims_pb2
from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.settlement.v1 import settlement_pb2

CHUNK_BYTES = 1024 * 1024  # AppendImportChunk takes at most 4 MiB
RECENT_JOBS = 20  # the imports page's list: the newest jobs of all kinds together
STATES = {jobs_pb.IMPORT_JOB_STATE_UPLOADING: "uploading",
          jobs_pb.IMPORT_JOB_STATE_PROCESSING: "processing",
          jobs_pb.IMPORT_JOB_STATE_SUCCEEDED: "succeeded",
          jobs_pb.IMPORT_JOB_STATE_FAILED: "failed"}
ENDED = (jobs_pb.IMPORT_JOB_STATE_SUCCEEDED, jobs_pb.IMPORT_JOB_STATE_FAILED)


@dataclass(frozen=True)
class ImportKind:
    kind: str  # "837" | "835"
    label: str
    service: str
    messages: ModuleType  # the service's generated module (StartImportRequest, ...)

    def method(self, name: str) -> str:
        return f"{self.service}/{name}"

    def message(self, name: str) -> Any:
        return getattr(self.messages, name)

    def missing(self, gateway: Gateway) -> str:
        """Why this gateway cannot run the kind's jobs ("" when it can)."""
        if not hasattr(self.messages, "StartImportRequest") or gateway.catalog.get(
                f"/{self.method('StartImport')}") is None:
            return f"{self.method('StartImport')} is not served by this gateway"
        return ""


KINDS = {
    "837": ImportKind("837", "837 claims (to the claims service)",
                      "oonledger.claims.v1.ClaimsService", claims_pb2),
    "835": ImportKind("835", "835 remittance (to the settlement service)",
                      "oonledger.settlement.v1.SettlementService", settlement_pb2),
}
PLAN_FUNDING = {"": claims_pb2.PLAN_FUNDING_UNSPECIFIED,
                "fully insured": claims_pb2.PLAN_FUNDING_FULLY_INSURED,
                "self-funded ERISA": claims_pb2.PLAN_FUNDING_SELF_FUNDED_ERISA,
                "non-federal governmental": claims_pb2.PLAN_FUNDING_NON_FEDERAL_GOVERNMENTAL}
NETWORK = {"": claims_pb2.NETWORK_STATUS_UNSPECIFIED,
           "in network": claims_pb2.NETWORK_STATUS_IN_NETWORK,
           "out of network": claims_pb2.NETWORK_STATUS_OUT_OF_NETWORK,
           "not applicable": claims_pb2.NETWORK_STATUS_NOT_APPLICABLE}


@dataclass(frozen=True)
class ClaimFacts:
    """What an 837 does not carry, applied to every claim of the file (837 only)."""

    client_id: str = ""
    plan_funding: str = ""
    situs_state: str = ""
    network: str = ""
    facility_state: str = ""


def kind_of(content: bytes, chosen: str) -> str:
    """The kind the person chose, else the first ST segment's (ST*837 / ST*835)."""
    if chosen in KINDS:
        return chosen
    head = content[:4096].decode("latin-1")
    at = head.find("ST")
    while at >= 0:
        found = head[at + 3 : at + 6]
        if head[at + 2 : at + 3] in "*|^:" and found in KINDS:
            return found
        at = head.find("ST", at + 2)
    return ""


def start_request(kind: ImportKind, content: bytes, file_name: str, request_id: str,
                  facts: ClaimFacts) -> Any:
    request = kind.message("StartImportRequest")(
        request_id=request_id, file_sha256=hashlib.sha256(content).hexdigest(),
        total_bytes=len(content), file_name=file_name)
    if kind.kind == "837":
        request.client_id = facts.client_id
        request.plan.CopyFrom(claims_pb2.Plan(
            funding=PLAN_FUNDING.get(facts.plan_funding, claims_pb2.PLAN_FUNDING_UNSPECIFIED),
            situs_state=facts.situs_state))
        request.facility.CopyFrom(claims_pb2.Facility(
            network_status=NETWORK.get(facts.network, claims_pb2.NETWORK_STATUS_UNSPECIFIED),
            state=facts.facility_state))
    else:
        request.kind = kind.kind
    return request


async def upload(client: ServiceClient, kind: ImportKind, content: bytes, file_name: str,
                 request_id: str, facts: ClaimFacts) -> jobs_pb.ImportJob:
    """Start (or find) the file's job, send what it still lacks, finish the upload. Each call's
    request id derives from the form's, so a double submit is the same job, stored once."""
    started = await client.call(kind.method("StartImport"),
                                start_request(kind, content, file_name, f"{request_id}-start",
                                              facts),
                                kind.message("StartImportResponse"),
                                request_id=f"{request_id}-start")
    job: jobs_pb.ImportJob = started.job
    if job.state != jobs_pb.IMPORT_JOB_STATE_UPLOADING:
        return job  # the same file was imported before: its job
    for sequence in range(job.next_sequence, (len(content) + CHUNK_BYTES - 1) // CHUNK_BYTES):
        chunk_id = f"{request_id}-chunk-{sequence}"
        await client.call(kind.method("AppendImportChunk"), kind.message(
            "AppendImportChunkRequest")(request_id=chunk_id, job_id=job.job_id,
                                        sequence=sequence,
                                        data=content[sequence * CHUNK_BYTES:
                                                     (sequence + 1) * CHUNK_BYTES]),
            kind.message("AppendImportChunkResponse"), request_id=chunk_id)
    finished = await client.call(
        kind.method("FinishImportUpload"), kind.message("FinishImportUploadRequest")(
            request_id=f"{request_id}-finish", job_id=job.job_id),
        kind.message("FinishImportUploadResponse"), request_id=f"{request_id}-finish")
    return finished.job  # type: ignore[no-any-return]


async def get_job(client: ServiceClient, kind: ImportKind, job_id: str, offset: int = 0,
                  limit: int = 0) -> jobs_pb.ImportJob:
    reply = await client.call(kind.method("GetImportJob"), kind.message("GetImportJobRequest")(
        job_id=job_id, findings_offset=offset, findings_limit=limit),
        kind.message("GetImportJobResponse"))
    return reply.job  # type: ignore[no-any-return]


def percent(job: jobs_pb.ImportJob) -> int | None:
    """How far the job is, 0..100; None while the file is being read (not yet counted)."""
    p = job.progress
    if job.state == jobs_pb.IMPORT_JOB_STATE_SUCCEEDED:
        return 100
    if job.state == jobs_pb.IMPORT_JOB_STATE_UPLOADING:
        return min(99, 100 * p.bytes_received // job.total_bytes) if job.total_bytes else 0
    if p.items_read <= 0:
        return None if job.state == jobs_pb.IMPORT_JOB_STATE_PROCESSING else 0
    return min(100 if job.state in ENDED else 99, 100 * p.items_processed // p.items_read)


def status_json(kind: ImportKind, job: jobs_pb.ImportJob) -> dict[str, Any]:
    """What the job page's script polls (static/imports.js)."""
    p = job.progress
    return {"kind": kind.kind, "job_id": job.job_id, "state": STATES.get(job.state, "unknown"),
            "phase": job.phase, "percent": percent(job), "ended": job.state in ENDED,
            "error": job.error, "findings_total": job.findings_total,
            "progress": {"items_read": p.items_read, "items_stored": p.items_stored,
                         "items_rejected": p.items_rejected,
                         "items_processed": p.items_processed,
                         "payments_posted": p.payments_posted, "fees_billed": p.fees_billed,
                         "bytes_received": p.bytes_received, "total_bytes": job.total_bytes}}


@dataclass(frozen=True)
class ListedJob:
    """One line of the imports page's list of recent jobs."""

    kind: str
    job: jobs_pb.ImportJob

    @property
    def state(self) -> str:
        return STATES.get(self.job.state, "unknown")

    @property
    def started(self) -> datetime:
        return self.job.created_at.ToDatetime()  # naive, UTC

    @property
    def link(self) -> str:
        return f"/console/imports/{self.kind}/{self.job.job_id}"


def newest_first(pages: Mapping[str, Sequence[jobs_pb.ImportJob]], limit: int) -> list[ListedJob]:
    """The first pages of each kind (each newest first) as one list, newest first, at most
    `limit`: the order of ListImportJobs (created_at, then job_id), across the kinds."""
    every = [ListedJob(kind, job) for kind, jobs in pages.items() for job in jobs]
    every.sort(key=lambda j: (j.job.created_at.seconds, j.job.created_at.nanos, j.job.job_id),
               reverse=True)
    return every[:limit]


@dataclass(frozen=True)
class RecentJobs:
    """The imports page's list: the jobs, why a kind could not be listed (said on the page,
    never silently left out), and for a list of one kind the token of its older jobs."""

    jobs: list[ListedJob]
    problems: list[str]
    kind: str = ""  # "" = every kind together
    page: str = ""  # the page token this list started at ("" = the newest)
    older: str = ""  # that kind's next_page_token ("" = no older jobs)


async def recent_jobs(client: ServiceClient, gateway: Gateway, limit: int = RECENT_JOBS,
                      kind: str = "", page_token: str = "") -> RecentJobs:
    """The tenant's newest jobs of every kind together (the first page of each, merged), or of
    one `kind`, page by page (ListImportJobs' own keyset pages: a merged list of two services
    has no single position to go on from)."""

    async def page_of(kind: ImportKind, token: str) -> tuple[str, Any, str]:
        method = kind.method("ListImportJobs")
        if kind.missing(gateway) or gateway.catalog.get(f"/{method}") is None:
            return kind.kind, None, f"{method} is not served by this gateway"
        try:
            reply = await client.call(method, kind.message("ListImportJobsRequest")(
                page_size=limit, page_token=token), kind.message("ListImportJobsResponse"))
        except CallFailure as refused:
            return kind.kind, None, f"{refused.code.name}: {refused.message}"
        return kind.kind, reply, ""

    chosen = [KINDS[kind]] if kind in KINDS else list(KINDS.values())
    answers = await asyncio.gather(*(page_of(k, page_token if kind else "") for k in chosen))
    problems = [f"{name} jobs: {problem}" for name, _, problem in answers if problem]
    pages = {name: list(reply.jobs) if reply is not None else [] for name, reply, _ in answers}
    if kind not in KINDS:
        return RecentJobs(newest_first(pages, limit), problems)
    reply = answers[0][1]
    return RecentJobs(newest_first(pages, limit), problems, kind, page_token,
                      reply.next_page_token if reply is not None else "")
