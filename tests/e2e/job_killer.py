"""kill -9 of a service at a known point of an import job, from a process of its own.

The kill scenarios want the importing service killed while the job has committed part of the
file and not all of it. Watching for that through the gateway from the test's event loop was
too slow on a loaded machine: that loop also runs the services that are not being killed,
busy with the import's backlog, and a small job could post every item (or end) between two
looks. This process reads the job's row in the service's own table every few milliseconds
and sends SIGKILL the moment the job is past `at` items, far quicker than a chunk commits.
It imports psycopg and the job states only."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
import traceback
from multiprocessing.connection import Connection

import psycopg

from services.common.import_jobs.store import ENDED

POLL_SECONDS = 0.005


def kill_when_past(conn: psycopg.Connection, schema: str, job_id: str, pid: int, at: int,
                   total: int, timeout: float) -> int:
    """SIGKILL `pid` once the job has processed at least `at` items while still processing
    (fewer than `total`); the count it had then. Raises if the job got past every item (or
    ended) between two looks, or nothing moved within `timeout` seconds."""
    query = f'SELECT state, items_processed FROM "{schema}".import_jobs WHERE job_id = %s'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = conn.execute(query, (job_id,)).fetchone()
        if row is not None:
            state, processed = row
            if state in ENDED or processed >= total:
                raise AssertionError(
                    f"the job got past every item before it could be killed ({state}, "
                    f"{processed} of {total} items)")
            if processed >= at:
                os.kill(pid, signal.SIGKILL)
                return int(processed)
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"the job did not reach {at} items within {timeout} s")


def _serve(receive: Connection, send: Connection, database_url: str, schema: str) -> None:
    """The killer process: connected before the upload, then told which job and process."""
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            send.send(("ready", None))
            job_id, pid, at, total, timeout = receive.recv()
            send.send(("ok", kill_when_past(conn, schema, job_id, pid, at, total, timeout)))
    except BaseException:
        send.send(("error", traceback.format_exc()))
    finally:
        send.close()


class JobKiller:
    """`kill_when_past` in a spawned process, started (and connected) before the upload so
    that nothing of its start-up falls between the job's first and last commit."""

    def __init__(self, database_url: str, schema: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._answers, answer = context.Pipe(duplex=False)
        order, self._orders = context.Pipe(duplex=False)
        self._process = context.Process(target=_serve, name="job-killer", daemon=True,
                                        args=(order, answer, database_url, schema))
        self._process.start()
        answer.close()
        order.close()

    async def ready(self) -> None:
        await self._answer()

    async def kill_mid_job(self, job_id: str, pid: int, at: int, total: int,
                           timeout: float = 1800) -> int:
        """The items the job had processed when `pid` was killed."""
        self._orders.send((job_id, pid, max(at, 1), total, timeout))
        return int(await self._answer())

    async def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        await asyncio.to_thread(self._process.join, 10)
        self._answers.close()
        self._orders.close()

    async def _answer(self) -> object:
        try:
            outcome, value = await asyncio.to_thread(self._answers.recv)
        except EOFError:
            raise AssertionError("the killer process ended without an answer (exit code "
                                 f"{self._process.exitcode})") from None
        if outcome == "error":
            raise AssertionError(f"the killer process failed:\n{value}")
        return value
