"""A partner's view of an import job's progress: WatchImportJob through a gateway, from a
process of its own, with the time each update arrived.

The watcher is a separate process (as a partner's client is), so that its arrival times wait
neither for the test interpreter's event loop nor for its GIL: in the import-job tests that
interpreter also runs the services that are not being killed, busy with the import's backlog.
It imports only grpc and the generated messages."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import grpc

from oonledger.claims.v1 import claims_pb2 as pb
from oonledger.claims.v1 import claims_pb2_grpc as claims_grpc
from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.settlement.v1 import settlement_pb2 as settlement_pb
from oonledger.settlement.v1 import settlement_pb2_grpc as settlement_grpc

ENDED = (jobs_pb.IMPORT_JOB_STATE_SUCCEEDED, jobs_pb.IMPORT_JOB_STATE_FAILED)

# How a stream ends when the service behind the gateway is killed (or not yet back).
BROKEN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
          grpc.StatusCode.CANCELLED)

Stretches = list[list[tuple[float, jobs_pb.ImportJob]]]


# While the service behind the gateway is down (killed, restarting), the stream is opened
# again this often, for at most DOWN_AT_MOST seconds in a row (then the watch fails, naming
# the last status, instead of waiting for the test's own limit).
REOPEN_SECONDS = 0.2
DOWN_AT_MOST = 300.0


def follow_blocking(address: str, kind: str, job_id: str,
                    metadata: tuple[tuple[str, str], ...]) -> Stretches:
    """Every update of the job through a kill -9 of the service, one list per stretch the
    service was up (the gaps that count are those within a stretch): a broken stream is
    watched again once the service answers, until the job ends (the watcher process is
    terminated if the test stops waiting)."""
    stretches: Stretches = [[]]
    down_since: float | None = None
    with grpc.insecure_channel(address) as channel:
        if kind == "835":
            stub: Any = settlement_grpc.SettlementServiceStub(channel)
            request: Any = settlement_pb.WatchImportJobRequest(job_id=job_id)
        else:
            stub, request = claims_grpc.ClaimsServiceStub(channel), pb.WatchImportJobRequest(
                job_id=job_id)
        while not stretches[-1] or stretches[-1][-1][1].state not in ENDED:
            try:
                for reply in stub.WatchImportJob(request, metadata=metadata):
                    stretches[-1].append((time.monotonic(), reply.job))
                    down_since = None
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    continue
                if code not in BROKEN:
                    raise
                if stretches[-1]:
                    stretches.append([])
                now = time.monotonic()
                down_since = now if down_since is None else down_since
                if now - down_since > DOWN_AT_MOST:
                    raise AssertionError(f"the service did not answer the watch for "
                                         f"{DOWN_AT_MOST:.0f} s (last: {code})") from exc
                time.sleep(REOPEN_SECONDS)  # the service is down: ask again shortly
    return [stretch for stretch in stretches if stretch]


def _follow_and_send(send: Connection, address: str, kind: str, job_id: str,
                     metadata: tuple[tuple[str, str], ...]) -> None:
    """The watcher process: the stretches (jobs as bytes), or the failure's traceback."""
    try:
        stretches = follow_blocking(address, kind, job_id, metadata)
        send.send(("ok", [[(at, job.SerializeToString()) for at, job in stretch]
                          for stretch in stretches]))
    except BaseException:
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()


async def watch_in_a_process(address: str, kind: str, job_id: str,
                             metadata: tuple[tuple[str, str], ...]) -> Stretches:
    """`follow_blocking` in a process of its own (spawned: nothing of this interpreter's
    state goes with it); ended when the awaiting task is cancelled."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_follow_and_send, name=f"watch-{job_id}",
                              args=(send, address, kind, job_id, metadata), daemon=True)
    process.start()
    send.close()
    try:
        outcome, value = await asyncio.to_thread(receive.recv)
    except EOFError:
        raise AssertionError(
            f"the watcher process ended without an answer (exit code {process.exitcode})"
        ) from None
    finally:
        if process.is_alive():
            process.terminate()  # cancelled: the blocked recv ends with EOFError
        await asyncio.to_thread(process.join, 10)
        receive.close()
    if outcome != "ok":
        raise AssertionError(f"the watcher process failed:\n{value}")
    return [[(at, jobs_pb.ImportJob.FromString(raw)) for at, raw in stretch]
            for stretch in value]
