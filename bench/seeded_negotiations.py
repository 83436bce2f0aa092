"""The in-process MakeOffer benches' set-up (bench/offer_inprocess.py, bench/offer_parts.py):
an embedded PostgreSQL of its own, the negotiation service's settings from the environment,
32 negotiations of 52 events seeded as the pipeline bench seeds them, and the application."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Seeded:
    app: Any  # NegotiationApplication (of the `services` first on PYTHONPATH)
    tenant: str
    ids: list[str]  # the seeded negotiations


@contextmanager
def seeded_negotiations(prefix: str) -> Iterator[Seeded]:
    """Imports happen here, not at module level: the `services` measured is whichever
    version is first on PYTHONPATH."""
    from services.common.localservers import LocalPostgres

    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    postgres = LocalPostgres(tmp / "pgdata")
    os.environ["DATABASE_URL"] = postgres.start()
    os.environ.setdefault("NATS_URL", "nats://127.0.0.1:4222")  # read, never connected to
    os.environ.setdefault("OON_DEV_MODE", "1")
    os.environ["OON_NAMESPACE"] = prefix[:2] + uuid.uuid4().hex[:8]
    try:
        from bench.negotiation_bench import prepare_streams
        from services.common.settings import Settings
        from services.negotiation.application import NegotiationApplication

        settings = Settings.from_env("negotiation", grpc_port=0)
        tenant = "bench-" + uuid.uuid4().hex[:6]
        ids = prepare_streams(settings, tenant)
        app = NegotiationApplication(settings)
        try:
            yield Seeded(app, tenant, ids)
        finally:
            app.close()
    finally:
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
