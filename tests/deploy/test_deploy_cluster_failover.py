"""The deployment's promise under failure, tested with real processes on loopback.

A 3-node NATS JetStream cluster (streams replicated 3 ways), a PostgreSQL of its own, and two
replicas of every service as subprocesses configured only through the environment (as in a
container). Claims flow end to end under sustained load; mid-way one NATS node (the leader of
the claims stream) and one replica of every service (the one holding its relay / appender
lease) are SIGKILLed. Afterwards: every event of every notification log is on its stream
exactly once and in the ledger exactly once, every payment has exactly one fee assessment,
every claim's chain verifies, and the claims started after the failures completed.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg
import nats
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from event_audit import (
    claim_history,
    consumer_states,
    ledger_event_ids,
    notification_ids,
    read_stream,
)
from journey import (
    Cluster,
    claim_input,
    metadata,
    publish_fee_schedule,
    run_claim,
    verify_claim,
)
from nats.js import JetStreamContext
from service_processes import ServiceProcess

from deploy.catalog import COMPONENTS
from deploy.nats_cluster import NatsCluster
from oonledger.claims.v1 import claims_pb2
from services.common.localservers import LocalPostgres
from services.common.settings import Settings
from tests.support.plugin import TEST_VERIFY_PEM

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio(loop_scope="session")]

# Defects this test found (November 2026), all fixed since (docs/operations.md, known
# limitations): exact tracking rows (services/common eventstore.is_processed + recorder),
# negotiation retrying a triage that overtook its adjudication (ArrivedEarly), and the ledger's
# pull loops stopping after a leader election (docs/decisions.md §10). When it fails, the
# backlog report prints each consumer's state and where each surviving ledger's tasks wait.

SERVICES = ("claims", "negotiation", "settlement", "fees", "ledger")
PUBLISHERS = ("claims", "negotiation", "settlement", "fees")  # the ledger publishes nothing
REPLICAS = 2
# Per-service replica counts for diagnosis, e.g. OON_CLUSTER_REPLICAS="negotiation=1,ledger=3"
# (a service left with one replica is not killed).
REPLICAS_OF: dict[str, int] = {
    name.strip(): int(count)
    for name, _, count in (
        item.partition("=") for item in os.environ.get("OON_CLUSTER_REPLICAS", "").split(",")
    )
    if name.strip()
}
CONCURRENT_CLAIMS = 4
CLAIMS_BEFORE_FAILURE = 12
CLAIMS_AFTER_FAILURE = 16


@dataclass
class System:
    database_url: str
    nats: NatsCluster
    namespace: str
    replicas: dict[str, list[ServiceProcess]]

    def settings(self, service: str) -> Settings:
        return Settings(service, self.database_url, self.nats.urls, namespace=self.namespace)

    def addresses(self) -> dict[str, list[str]]:
        return {name: [p.address for p in procs] for name, procs in self.replicas.items()}

    def processes(self) -> list[ServiceProcess]:
        return [p for procs in self.replicas.values() for p in procs]


def _internal_verify_key(path: Path) -> Path:
    """The test session's gateway public key: the journey signs its calls with the private half,
    as the gateway does (tests/deploy/journey.py)."""
    path.write_text(TEST_VERIFY_PEM)
    return path


def _signing_key(path: Path) -> Path:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


@pytest_asyncio.fixture(loop_scope="session")
async def system(tmp_path: Path) -> AsyncIterator[System]:
    # A PostgreSQL of its own: ten service processes need more connections than a shared
    # development server may have free, and other test sessions must not slow this one.
    # Outside pytest's base directory: every pytest start resets that tree to mode 0700, and
    # the embedded PostgreSQL runs as its own user when tests run as root (as in testing.py).
    pg_base = Path(tempfile.mkdtemp(prefix="oonledger-cluster-"))
    os.chmod(pg_base, 0o755)
    postgres = LocalPostgres(pg_base / "pgdata")
    database_url = await asyncio.to_thread(postgres.start)
    nats_cluster = NatsCluster(tmp_path / "nats")
    nats_cluster.start()
    namespace = "c" + uuid.uuid4().hex[:10]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("OON_", "DATABASE_"))}
    environment = {
        **inherited,
        "DATABASE_URL": database_url,
        "NATS_URL": nats_cluster.urls,
        "OON_NAMESPACE": namespace,
        "OON_CIPHER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "OON_PHI_KEY": base64.b64encode(os.urandom(32)).decode(),
        "LEDGER_SIGNING_KEY_FILE": str(_signing_key(tmp_path / "signing-key.pem")),
        "OON_INTERNAL_VERIFY_KEY_FILE": str(_internal_verify_key(tmp_path / "internal.pem")),
        "OON_STREAM_REPLICAS": "3",
        "OON_DB_POOL_SIZE": "4",
        "OON_SHUTDOWN_GRACE": "2",
    }
    replicas = {
        name: [
            ServiceProcess(COMPONENTS[name], index + 1, tmp_path / "logs")
            for index in range(REPLICAS_OF.get(name, REPLICAS))
        ]
        for name in SERVICES
    }
    system = System(database_url, nats_cluster, namespace, replicas)
    try:
        await nats_cluster.wait_ready()
        # Replica 1 of each service first, so it holds the relay / appender lease; then the
        # second replicas, all at once (concurrent start-up is part of what is tested).
        for generation in range(REPLICAS):
            batch = [procs[generation] for procs in replicas.values() if generation < len(procs)]
            for process in batch:
                process.start(environment)
            for process in batch:
                await process.wait_serving(within=120)
        yield system
    finally:
        for process in system.processes():
            if process.alive and process.process is not None:
                process.process.terminate()
        for process in system.processes():
            process.stop()
        nats_cluster.stop()
        await asyncio.to_thread(postgres.stop)
        shutil.rmtree(pg_base, ignore_errors=True)


async def _streams_are_replicated_three_ways(system: System) -> None:
    nc = await nats.connect(servers=system.nats.urls.split(","))
    try:
        js = nc.jetstream()
        for service in (*PUBLISHERS, "deadletter"):
            info = await js.stream_info(system.settings(service).stream_for(service))
            assert info.config.num_replicas == 3, service
            assert info.cluster is not None and len(info.cluster.replicas or []) == 2, service
    finally:
        await nc.close()


async def _claims_stream_leader(system: System) -> str:
    nc = await nats.connect(servers=system.nats.urls.split(","))
    try:
        info = await nc.jetstream().stream_info(system.settings("claims").stream_for("claims"))
        assert info.cluster is not None and info.cluster.leader
        return info.cluster.leader
    finally:
        await nc.close()


class Load:
    """Claims started continuously, `CONCURRENT_CLAIMS` at a time, each to its paid fee."""

    def __init__(self, system: System, cluster: Cluster, tenant: str) -> None:
        self.system = system
        self.cluster = cluster
        self.tenant = tenant
        self.completed: dict[str, float] = {}  # claim id -> monotonic time it completed
        self.started_after_failure: set[str] = set()
        self.failed_at: float | None = None
        self._numbers = iter(range(1_000_000))

    async def worker(self, until: int) -> None:
        while len(self.completed) < until:
            number = next(self._numbers)
            key = f"{self.tenant}-{number}"
            started = time.monotonic()
            try:
                claim_id = await asyncio.wait_for(
                    run_claim(self.cluster, self.tenant, key, date.today()), timeout=150
                )
            except Exception as error:
                raise AssertionError(
                    f"claim {key} did not complete: {error!r}\n" + await self.diagnose(key)
                ) from error
            if self.failed_at is not None and started >= self.failed_at:
                self.started_after_failure.add(claim_id)
            self.completed[claim_id] = time.monotonic()

    async def diagnose(self, key: str) -> str:
        """The claim's events on every stream, and every consumer's backlog."""
        registered = await self.cluster.claims.call(
            "RegisterClaim",
            claims_pb2.RegisterClaimRequest(
                request_id=f"{key}-register", claim=claim_input(key, date.today())
            ),
            metadata(self.tenant, f"{key}-register"),
        )
        streams = [self.system.settings(s).stream_for(s) for s in (*PUBLISHERS, "deadletter")]
        nc = await nats.connect(servers=self.system.nats.urls.split(","))
        try:
            js = nc.jetstream(timeout=10)
            history = await claim_history(js, streams, registered.claim.claim_id)
            consumers = await consumer_states(js, streams)
        finally:
            await nc.close()
        warnings = [
            f"{process.name}: {line}"
            for process in self.system.processes()
            for line in process.tail(200_000).splitlines()
            if " WARNING " in line or " ERROR " in line
        ]
        return "\n".join(
            ["events:", *history, "consumers:", *consumers, "service warnings:", *warnings[-40:]]
        )

    async def run_until(self, total: int) -> None:
        await asyncio.gather(*(self.worker(total) for _ in range(CONCURRENT_CLAIMS)))


def _kill_failure_set(system: System, nats_node: str) -> list[str]:
    killed = [f"nats {nats_node}"]
    system.nats.node(nats_node).kill()
    for procs in system.replicas.values():
        if len(procs) < 2:
            continue
        holder = procs[0]  # started first: holds the relay (and for the ledger the appender)
        holder.kill()
        killed.append(holder.name)
    return killed


async def test_losing_a_nats_node_and_a_replica_of_every_service_loses_nothing(
    system: System,
) -> None:
    began = time.monotonic()
    await _streams_are_replicated_three_ways(system)
    for name in PUBLISHERS:
        assert "relay active" in system.replicas[name][0].tail(100_000), f"{name}-1 relays"

    cluster = Cluster.connect(system.addresses())
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    load = Load(system, cluster, tenant)
    try:
        await publish_fee_schedule(cluster, tenant)
        await load.run_until(CLAIMS_BEFORE_FAILURE)

        # Failure in the middle of sustained load: the workers keep going while it happens.
        leader = await _claims_stream_leader(system)
        during = asyncio.create_task(load.run_until(CLAIMS_BEFORE_FAILURE + CLAIMS_AFTER_FAILURE))
        await asyncio.sleep(0.5)  # let the workers get calls in flight before the kill
        load.failed_at = time.monotonic()
        killed = _kill_failure_set(system, leader)
        await during
        assert len(load.started_after_failure) >= CONCURRENT_CLAIMS, (
            f"work continued after {killed}: only {len(load.started_after_failure)} new claims"
        )
        for name in PUBLISHERS:
            if len(system.replicas[name]) < 2:
                continue  # not killed (diagnosis run with OON_CLUSTER_REPLICAS)
            survivor = system.replicas[name][1]
            assert "relay active" in survivor.tail(100_000), f"{survivor.name} took over the relay"

        await _every_event_accounted_for(system, cluster, tenant, set(load.completed))
    finally:
        await cluster.close()
    print(
        f"\ncluster test: {len(load.completed)} claims, killed {killed}, "
        f"{time.monotonic() - began:.1f}s"
    )


async def _every_event_accounted_for(
    system: System, cluster: Cluster, tenant: str, claim_ids: set[str]
) -> None:
    nc = await nats.connect(servers=system.nats.urls.split(","))
    pool = await asyncpg.create_pool(system.database_url, min_size=1, max_size=2)
    assert pool is not None
    ledger_schema = system.settings("ledger").schema
    try:
        js = nc.jetstream(timeout=10)

        async def backlog() -> dict[str, int]:
            """What is still on its way: unpublished events, unassessed payments, unledgered
            events, and deliveries some consumer has not finished (a message a killed replica
            had pulled comes back only after its ack_wait, and its reaction then records new
            events). All zero once the system is quiet."""
            lag: dict[str, int] = {}
            in_flight = 0
            for service in PUBLISHERS:
                stream = system.settings(service).stream_for(service)
                for consumer in await js.consumers_info(stream):
                    in_flight += consumer.num_pending + consumer.num_ack_pending
            lag["deliveries unfinished"] = in_flight
            published = 0
            for service in PUBLISHERS:
                ids = await notification_ids(pool, system.settings(service).schema)
                info = await js.stream_info(system.settings(service).stream_for(service))
                lag[f"{service} unpublished"] = max(0, len(ids) - info.state.messages)
                published += len(ids)
            fee_stream = await read_stream(js, system.settings("fees").stream_for("fees"))
            assessed = {p["source_event_id"] for p in fee_stream.payloads("FeeAssessed")}
            payments = await read_stream(js, system.settings("settlement").stream_for("settlement"))
            paid = {e.event_id for e in payments.of_type("PaymentPosted")}
            lag["claims unpaid"] = max(0, len(claim_ids) - len(paid))
            lag["payments without fee"] = len(paid - assessed)
            ledgered = await ledger_event_ids(pool, ledger_schema)
            lag["events not in ledger"] = max(0, published - sum(ledgered.values()))
            return lag

        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        while any((remaining := await backlog()).values()):
            if loop.time() > deadline:
                raise AssertionError(
                    f"the system did not settle within 120 s: {remaining}\n"
                    + await _explain_backlog(system, js, pool)
                )
            await asyncio.sleep(0.5)  # polling interval, bounded by the deadline

        everything: set[str] = set()
        for service in PUBLISHERS:
            stored = await notification_ids(pool, system.settings(service).schema)
            contents = await read_stream(js, system.settings(service).stream_for(service))
            duplicated = {i: n for i, n in contents.message_ids.items() if n > 1}
            assert not duplicated, f"{service}: events published twice: {duplicated}"
            expected = {f"{service}:{n}" for n in stored}
            assert set(contents.message_ids) == expected, (
                f"{service}: lost {sorted(expected - set(contents.message_ids))[:5]}, "
                f"unknown {sorted(set(contents.message_ids) - expected)[:5]}"
            )
            everything |= expected

        ledgered = await ledger_event_ids(pool, ledger_schema)
        assert not [i for i, n in ledgered.items() if n > 1], "an event entered the ledger twice"
        assert set(ledgered) == everything, f"ledger lost {sorted(everything - set(ledgered))[:5]}"

        # Fees exactly once: one assessment per payment, none without a payment.
        payments = await read_stream(js, system.settings("settlement").stream_for("settlement"))
        paid = [e for e in payments.of_type("PaymentPosted") if e.tenant_id == tenant]
        assert {e.claim_id for e in paid} == claim_ids, "every claim was paid exactly once"
        assert len(paid) == len(claim_ids)
        fees = await read_stream(js, system.settings("fees").stream_for("fees"))
        assessed = Counter(p["source_event_id"] for p in fees.payloads("FeeAssessed"))
        assert {e.event_id: assessed[e.event_id] for e in paid} == {e.event_id: 1 for e in paid}
        assert set(assessed) == {e.event_id for e in paid}

        # Every claim's audit chain verifies and holds every event recorded for that claim.
        per_claim: Counter[str] = Counter()
        for service in PUBLISHERS:
            contents = await read_stream(js, system.settings(service).stream_for(service))
            per_claim.update(e.claim_id for e in contents.envelopes if e.claim_id)
        for claim_id in sorted(claim_ids):
            verdict = await verify_claim(cluster, tenant, claim_id)
            assert verdict.ok, f"{claim_id}: {verdict.breaks} {verdict.log_problems}"
            assert verdict.entries_checked == per_claim[claim_id], claim_id
    finally:
        await pool.close()
        await nc.close()


async def _explain_backlog(system: System, js: JetStreamContext, pool: asyncpg.Pool) -> str:
    """Which events the ledger lacks, what it rejected, and what was dead-lettered."""
    ledger_schema = system.settings("ledger").schema
    ledgered = set(await ledger_event_ids(pool, ledger_schema))
    missing: list[str] = []
    for service in PUBLISHERS:
        contents = await read_stream(js, system.settings(service).stream_for(service))
        missing += [
            f"{e.event_id} {e.event_type} claim={e.claim_id}"
            for e in contents.envelopes
            if e.event_id not in ledgered
        ]
    async with pool.acquire() as connection:
        rejected = await connection.fetch(f'SELECT * FROM "{ledger_schema}".rejected_messages')
    dead = await read_stream(js, system.settings("deadletter").stream_for("deadletter"))
    consumers = []
    for service in PUBLISHERS:
        stream = system.settings(service).stream_for(service)
        for info in await js.consumers_info(stream):
            consumers.append(
                f"{stream}/{info.name}: pending={info.num_pending} "
                f"ack_pending={info.num_ack_pending} waiting={info.num_waiting} "
                f"delivered={info.delivered} ack_floor={info.ack_floor} "
                f"leader={info.cluster.leader if info.cluster else None}"
            )
    # Where each surviving ledger's loops are waiting (services/common/taskdump.py).
    dumps = []
    for process in system.replicas["ledger"]:
        if process.alive and process.process is not None:
            process.process.send_signal(signal.SIGUSR1)
    await asyncio.sleep(1.0)
    for process in system.replicas["ledger"]:
        if process.alive:
            tail = process.tail(200_000)
            dumps.append(f"{process.name}: {tail[tail.rfind('asyncio tasks:'):]}")
    return (
        f"not in the ledger: {missing}\nledger rejected: {[dict(r) for r in rejected]}\n"
        f"dead letters: {[(e.event_id, e.event_type) for e in dead.envelopes]}\n"
        "consumers:\n" + "\n".join(consumers) + "\n" + "\n".join(dumps)
    )
