"""The import-job RPCs of a servicer, written once for every service that imports files as jobs
(claims' 837, settlement's 835).

`ImportJobMethods` is a mixin, listed before the generated servicer base so its methods answer:
AppendImportChunk, FinishImportUpload, GetImportJob, ListImportJobs and WatchImportJob over
`self.imports` (jobs.py), and `start_import`, which a service's own StartImport calls once it
has checked what only it reads before the upload (claims: the plan and facility facts;
settlement: the kind).

The request and response messages stay declared in each service's proto package (their
`StartImportRequest` differs, and moving the others to oonledger.common.v1 would change the
RPCs' request and response types, which `buf breaking` (FILE) refuses), so the mixin builds the
service's own responses from `job_messages`, its generated module; the `ImportJob` inside them
is built in one place, `wire.job_message`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from types import ModuleType
from typing import Any

from google.protobuf.message import Message

from services.common.context import CommandContext
from services.common.grpc_server import rpc, rpc_stream
from services.common.import_jobs.jobs import ImportJobs, StartImport
from services.common.import_jobs.wire import job_message, state_filter


class ImportJobMethods:
    imports: ImportJobs
    job_messages: ModuleType  # the service's generated *_pb2 module (its import-job messages)

    async def start_import(self, ctx: CommandContext, request: Any, params: Message) -> Any:
        """Start (or find) the job of `request`'s file; `params`, what the service needs besides
        the file, is kept with the job (serialized) and handed to its processor."""
        job, created = await self.imports.start(ctx, StartImport(
            request.file_sha256, request.total_bytes, request.file_name,
            params.SerializeToString(deterministic=True),
        ))
        return self.job_messages.StartImportResponse(job=job_message(job), created=created)

    @rpc
    async def AppendImportChunk(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        job = await self.imports.append(ctx, request.job_id, request.sequence, request.data)
        return self.job_messages.AppendImportChunkResponse(
            bytes_received=job.bytes_received, next_sequence=job.next_sequence
        )

    @rpc
    async def FinishImportUpload(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        job = await self.imports.finish(ctx, request.job_id)
        return self.job_messages.FinishImportUploadResponse(job=job_message(job))

    @rpc
    async def GetImportJob(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        job = await self.imports.get(ctx, request.job_id)
        findings = await self.imports.findings(
            job, request.findings_offset, request.findings_limit
        )
        return self.job_messages.GetImportJobResponse(job=job_message(job, findings))

    @rpc
    async def ListImportJobs(self, request: Any, ctx: CommandContext, context: Any) -> Any:
        jobs, token = await self.imports.list_page(
            ctx, request.page_size, request.page_token, state_filter(request.state)
        )
        return self.job_messages.ListImportJobsResponse(
            jobs=[job_message(job) for job in jobs], next_page_token=token
        )

    @rpc_stream
    async def WatchImportJob(
        self, request: Any, ctx: CommandContext, context: Any
    ) -> AsyncGenerator[Any, None]:
        async for job in self.imports.watch(ctx, request.job_id):
            findings = await self.imports.findings(job) if job.ended else []
            yield self.job_messages.WatchImportJobResponse(job=job_message(job, findings))
