"""Upload an 837 (to the claims service) or an 835 (to settlement) as an import job, through
the gateway, with a progress bar: `python -m services.ops.import_file FILE --client-id CLIENT`
for an 837, `python -m services.ops.import_file FILE` for an 835. The kind is read from the
file's first ST segment (`--kind 835|837` overrides).

The gateway is GATEWAY_ADDR (found from a running `make run` when unset; default
127.0.0.1:<the gateway's port>), the key OON_API_KEY (a negotiator or admin key of the tenant
for an 837, a finance or admin key for an 835).
The file goes up in chunks (StartImport, AppendImportChunk, FinishImportUpload); a file started
before resumes where its upload stopped, and a file already imported answers its first job.
Then the job is followed (WatchImportJob) until it ends. Exit status 0 when every claim was
stored (every payment posted to a claim), 1 when some were rejected (went to the exceptions
queue) or the job failed, 2 when a call failed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import grpc

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1.claims_pb2_grpc import ClaimsServiceStub
from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.settlement.v1 import settlement_pb2 as settlement_pb
from oonledger.settlement.v1.settlement_pb2_grpc import SettlementServiceStub
from services.common.local_env import local_settings
from services.ops.cli import gateway_parser

CHUNK_BYTES = 1024 * 1024
BAR_WIDTH = 30
SHOWN_FINDINGS = 20
ENDED = (jobs_pb.IMPORT_JOB_STATE_SUCCEEDED, jobs_pb.IMPORT_JOB_STATE_FAILED)


def file_kind(content: bytes) -> str:
    """"835" or "837" from the file's first ST segment (ST01), "" when there is none."""
    head = content[:8192].decode("latin-1").lstrip("\ufeff\xef\xbb\xbf")
    start = head.find("ISA")
    if start < 0 or len(head) < start + 106:
        return ""
    separator = head[start + 3]
    at = head.find(f"ST{separator}", start)
    return head[at + 3 : at + 6] if at >= 0 else ""


def progress_line(job: jobs_pb.ImportJob) -> str:
    """One line of plain text: a bar, the phase and the counters."""
    p = job.progress
    noun = "payments" if job.kind == "835" else "claims"
    if job.state == jobs_pb.IMPORT_JOB_STATE_UPLOADING:
        done, total, unit = p.bytes_received, job.total_bytes, "bytes uploaded"
    elif p.items_read:
        done, total, unit = p.items_processed, p.items_read, noun
    else:
        done, total, unit = 0, 1, noun
    filled = BAR_WIDTH * done // max(total, 1)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    percent = 100 * done // max(total, 1)
    of = str(total) if p.items_read or job.state == jobs_pb.IMPORT_JOB_STATE_UPLOADING else "?"
    if job.kind == "835":
        return (f"[{bar}] {percent:3d}% {job.phase:<9} {done}/{of} {unit}; "
                f"posted {p.payments_posted}, exceptions {p.items_rejected}, "
                f"fees billed {p.fees_billed}")
    return (f"[{bar}] {percent:3d}% {job.phase:<9} {done}/{of} {unit}; "
            f"stored {p.items_stored}, rejected {p.items_rejected}")


def _rid() -> str:
    return uuid.uuid4().hex


def start_request(kind: str, content: bytes, name: str, options: argparse.Namespace) -> Any:
    sha, size = hashlib.sha256(content).hexdigest(), len(content)
    if kind == "835":
        return settlement_pb.StartImportRequest(
            request_id=_rid(), file_sha256=sha, total_bytes=size, file_name=name, kind=kind)
    return pb.StartImportRequest(
        request_id=_rid(), file_sha256=sha, total_bytes=size, file_name=name,
        client_id=options.client_id,
        plan=pb.Plan(funding=pb.PlanFunding.Value(f"PLAN_FUNDING_{options.plan_funding}"),
                     situs_state=options.situs_state),
        facility=pb.Facility(
            network_status=pb.NetworkStatus.Value(f"NETWORK_STATUS_{options.network_status}"),
            state=options.facility_state),
    )


async def upload(
    stub: Any, content: bytes, name: str, options: argparse.Namespace,
    metadata: tuple[tuple[str, str], ...], out: TextIO,
) -> jobs_pb.ImportJob:
    """`stub`: the claims (837) or settlement (835) stub; their job calls are the same."""
    messages = settlement_pb if options.kind == "835" else pb
    started = await stub.StartImport(
        start_request(options.kind, content, name, options), metadata=metadata)
    job = started.job
    if not started.created:
        print(f"job {job.job_id}: this file was started before", file=out)
    if job.state != jobs_pb.IMPORT_JOB_STATE_UPLOADING:
        return job
    offset, sequence = job.progress.bytes_received, job.next_sequence
    while offset < len(content):
        data = content[offset : offset + CHUNK_BYTES]
        await stub.AppendImportChunk(messages.AppendImportChunkRequest(
            request_id=_rid(), job_id=job.job_id, sequence=sequence, data=data),
            metadata=metadata)
        offset, sequence = offset + len(data), sequence + 1
        job.progress.bytes_received = offset
        job.phase = "uploading"
        print("\r" + progress_line(job), end="", file=out, flush=True)
    finished = await stub.FinishImportUpload(messages.FinishImportUploadRequest(
        request_id=_rid(), job_id=job.job_id), metadata=metadata)
    print(file=out)
    return finished.job


async def follow(
    stub: Any, job: jobs_pb.ImportJob, metadata: tuple[tuple[str, str], ...],
    out: TextIO,
) -> jobs_pb.ImportJob:
    """Watch until the job ends (watching again when a stream is cut short)."""
    messages = settlement_pb if job.kind == "835" else pb
    while job.state not in ENDED:
        try:
            async for reply in stub.WatchImportJob(
                messages.WatchImportJobRequest(job_id=job.job_id), metadata=metadata
            ):
                job = reply.job
                print("\r" + progress_line(job), end="", file=out, flush=True)
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED,
                                  grpc.StatusCode.UNAVAILABLE):
                raise
            await asyncio.sleep(1.0)
    print(file=out)
    return job


def summary(job: jobs_pb.ImportJob) -> str:
    p = job.progress
    state = jobs_pb.ImportJobState.Name(job.state)
    if job.kind == "835":
        lines = [f"job {job.job_id}: {state}: read {p.items_read}, posted {p.payments_posted}, "
                 f"exceptions {p.items_rejected}, fees billed {p.fees_billed}"]
    else:
        lines = [f"job {job.job_id}: {state}: read {p.items_read}, "
                 f"stored {p.items_stored}, rejected {p.items_rejected}"]
    if job.error:
        lines.append(f"  {job.error}")
    for finding in job.findings[:SHOWN_FINDINGS]:
        where = f"{finding.location}: " if finding.location else ""
        field = f"{finding.field}: " if finding.field else ""
        lines.append(f"  {where}{field}{finding.message}")
    if job.findings_total > SHOWN_FINDINGS:
        lines.append(f"  ... {job.findings_total - SHOWN_FINDINGS} more findings "
                     f"(GetImportJob with findings_offset)")
    return "\n".join(lines)


async def run(argv: Sequence[str], environ: Mapping[str, str], out: TextIO = sys.stdout) -> int:
    parser = gateway_parser(
        "python -m services.ops.import_file",
        "Import an 837 (claims service) or an 835 (settlement) as a job, with a progress bar.",
        environ)
    parser.add_argument("file", type=Path)
    parser.add_argument("--kind", choices=("835", "837"), default="",
                        help="the file's kind (default: read from its first ST segment)")
    parser.add_argument("--client-id", default="", help="whose claims (an 837: required)")
    parser.add_argument("--plan-funding", default="UNSPECIFIED",
                        help="PlanFunding name without its prefix, e.g. SELF_FUNDED_ERISA")
    parser.add_argument("--situs-state", default="")
    parser.add_argument("--network-status", default="UNSPECIFIED",
                        help="the facility's NetworkStatus without its prefix")
    parser.add_argument("--facility-state", default="")
    options = parser.parse_args(argv)
    key = environ.get("OON_API_KEY", "")
    if not key:
        print("OON_API_KEY (a key of the tenant: negotiator or admin for an 837, finance or "
              "admin for an 835) is required", file=sys.stderr)
        return 2
    metadata = (("authorization", f"Bearer {key}"),)
    content = options.file.read_bytes()
    options.kind = options.kind or file_kind(content)
    if options.kind not in ("835", "837"):
        print("not an 835 or 837 interchange (no ST*835 or ST*837 segment found); "
              "name the kind with --kind", file=sys.stderr)
        return 2
    if options.kind == "837" and not options.client_id:
        print("an 837 needs --client-id (whose claims)", file=sys.stderr)
        return 2
    messages = settlement_pb if options.kind == "835" else pb
    async with grpc.aio.insecure_channel(options.gateway) as channel:
        stub = (SettlementServiceStub if options.kind == "835" else ClaimsServiceStub)(channel)
        try:
            job = await upload(stub, content, options.file.name, options, metadata, out)
            job = await follow(stub, job, metadata, out)
            job = (await stub.GetImportJob(messages.GetImportJobRequest(
                job_id=job.job_id, findings_limit=SHOWN_FINDINGS), metadata=metadata)).job
        except grpc.aio.AioRpcError as exc:
            print(f"\nimport failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 2
        except ValueError as exc:  # an unknown enum name
            print(f"import failed: {exc}", file=sys.stderr)
            return 2
    print(summary(job), file=out)
    ok = job.state == jobs_pb.IMPORT_JOB_STATE_SUCCEEDED and not job.progress.items_rejected
    return 0 if ok else 1


def main() -> int:
    environ = local_settings(os.environ, tool="services.ops.import_file")
    return asyncio.run(run(sys.argv[1:], environ))


if __name__ == "__main__":
    sys.exit(main())
