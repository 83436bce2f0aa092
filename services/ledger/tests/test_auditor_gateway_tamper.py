"""Tampering seen through the auditor's tool at the gateway: replay flags the entry on its line,
export refuses, verify-tenant names it, the report says BROKEN, a rollback is caught against a
pinned checkpoint. Each test runs its own ledger: tampering spoils the log for everyone."""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import uuid
from collections.abc import AsyncIterator

import pypdf
import pytest
import pytest_asyncio

from services.ledger.adapters import mapping
from services.ledger.adapters.sql_rows import ENTRY_COLUMNS, entry_record
from services.ledger.domain.entry import AuditEntry, place
from services.ledger.tests.factories import claim_history, facts, negotiated_claim
from services.ledger.tests.gateway_harness import Audited, cli, start_audited
from services.ledger.tests.test_forgery import forge_after_head, log_size
from services.ledger.tests.test_tamper import behind_the_back, signed_claim
from tests.support.plugin import ServiceRunner

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def audited(
    service_runner: ServiceRunner, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Audited]:
    started = await start_audited(
        service_runner, tmp_path_factory.mktemp("tamper-gw-keys"),
        namespace="tg" + uuid.uuid4().hex[:10],
    )
    yield started
    await started.close(service_runner)


async def online(audited: Audited, tenant: str, tmp_path: pathlib.Path) -> list[str]:
    """Gateway, auditor key, and the ledger key pinned before anything was tampered with."""
    key = await audited.key(tenant, "auditor")
    pin = tmp_path / "ledger-key.pem"
    code, text = await cli("public-key", "--target", audited.target, "--api-key", key,
                           "--pin", str(pin))
    assert code == 0, text
    return ["--target", audited.target, "--api-key", key, "--public-key", str(pin)]


def line_of(text: str, event_id: str, entries: list) -> str:  # type: ignore[type-arg]
    seq = next(e.chain_seq for e in entries if e.event_id == event_id)
    return next(line for line in text.splitlines() if f"#{seq} " in line)


async def test_an_edited_amount_is_flagged_refused_and_reported_broken(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, claim, entries = await signed_claim(audited.ledger)
    args = await online(audited, tenant, tmp_path)
    victim = entries[4]
    await behind_the_back(audited.ledger, (
        "UPDATE audit_entries SET payload = $1 WHERE event_id = $2",
        b'{"amount_cents":99999900,"party":"provider"}', victim.event_id))

    code, text = await cli("replay", *args, "--claim", claim)
    assert code == 1, text
    line = line_of(text, victim.event_id, entries)
    assert line.startswith("!!") and "amount=$999,999.00" in line
    assert "BROKEN (content_altered)" in line
    assert "WARNING: 1 entry marked !!" in text
    assert [x for x in text.splitlines() if x.startswith("!!")] == [line]

    out = tmp_path / "bundle.json"
    code, text = await cli("export", *args, "--claim", claim, "--out", str(out))
    assert code == 1 and "REFUSED" in text and "content_altered" in text, text
    assert not out.exists()

    code, text = await cli("verify-tenant", *args)
    assert code == 1 and f"tenant {tenant}: BROKEN" in text and "content_altered" in text

    report = tmp_path / "report.pdf"
    code, text = await cli("report", *args, "--claim", claim, "--out", str(report))
    assert code == 0, text
    pdf = pypdf.PdfReader(io.BytesIO(report.read_bytes()))
    content = " ".join(" ".join(page.extract_text() for page in pdf.pages).split())
    assert "BROKEN" in content and "content_altered" in content and "VERIFIED" not in content


async def test_a_forged_row_with_a_recomputed_hash_is_flagged_forged(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, claim, entries = await signed_claim(audited.ledger)
    args = await online(audited, tenant, tmp_path)
    forged = await forge_after_head(
        audited.ledger, tenant, claim, entries, await log_size(audited.ledger, tenant) + 7
    )
    code, text = await cli("replay", *args, "--claim", claim)
    assert code == 1, text
    line = next(x for x in text.splitlines() if "PayerResponseReceived" in x)
    assert line.startswith("!!") and "forged" in line, text
    code, text = await cli("verify-tenant", *args)
    assert code == 1 and "forged" in text and forged in text, text
    out = tmp_path / "b.json"
    code, text = await cli("export", *args, "--claim", claim, "--out", str(out))
    assert code != 0 and not out.exists(), text


async def test_a_rollback_to_an_earlier_backup_is_caught_by_the_pinned_checkpoint(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, claim, _ = await signed_claim(audited.ledger)
    args = await online(audited, tenant, tmp_path)
    backup = tmp_path / "at-backup.json"
    assert (await cli("checkpoint", *args, "--out", str(backup)))[0] == 0
    size = json.loads(backup.read_text())["tree_size"]
    later = f"later-{claim}"
    await audited.ledger.publish(claim_history(tenant, later, 5, start=400))
    await audited.ledger.wait_for(tenant, later, 5)
    pinned = tmp_path / "pinned.json"
    code, text = await cli("verify-tenant", *args, "--pinned", str(backup), "--save", str(pinned))
    assert code == 0, text
    assert json.loads(pinned.read_text())["tree_size"] > size

    # The operator restores the backup: every row, node and checkpoint after it is gone.
    await behind_the_back(
        audited.ledger,
        ("DELETE FROM audit_entries WHERE log_index >= $1", size),
        ("DELETE FROM merkle_nodes WHERE (idx + 1) * (1::bigint << level) > $1", size),
        ("DELETE FROM checkpoints WHERE tree_size > $1", size),
    )
    code, text = await cli("verify-tenant", *args, "--pinned", str(pinned))
    assert code == 1 and "rolled back" in text, text
    code, text = await cli("consistency", *args, "--old", str(pinned))
    assert code == 1 and "rolled back" in text, text
    # The claim itself predates the backup, but the witnessed checkpoint shows the rollback.
    code, text = await cli("verify", *args, "--claim", claim)
    assert code == 1 and "rolled back" in text, text


async def test_a_deleted_entry_is_named_by_verify_tenant(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, claim, entries = await signed_claim(audited.ledger)
    args = await online(audited, tenant, tmp_path)
    await audited.ledger.publish(negotiated_claim(tenant, f"second-{claim}", start=300))
    await audited.ledger.wait_for(tenant, f"second-{claim}", 12)
    await behind_the_back(audited.ledger, (
        "DELETE FROM audit_entries WHERE event_id = $1", entries[2].event_id))
    code, text = await cli("verify-tenant", *args)
    assert code == 1 and "entry #3 is missing" in text, text
    code, text = await cli("replay", *args, "--claim", claim)
    assert code == 1 and "!!" in text and "missing_entry" in text, text


async def test_a_rewritten_merkle_node_is_named_by_verify_tenant(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, claim, entries = await signed_claim(audited.ledger)
    args = await online(audited, tenant, tmp_path)
    victim = entries[3]
    sibling = victim.log_index ^ 1  # a hash on the victim's inclusion path
    await behind_the_back(audited.ledger, (
        "UPDATE merkle_nodes SET hash = $1 WHERE level = 0 AND idx = $2", bytes(32), sibling))
    code, text = await cli("verify-tenant", *args)
    assert code == 1 and "not_in_log" in text and victim.event_id in text, text
    code, text = await cli("verify", *args, "--claim", claim)
    assert code == 1 and "not_in_log" in text and victim.event_id in text, text
    code, text = await cli("replay", *args, "--claim", claim)
    assert code == 1 and "!!" in line_of(text, victim.event_id, entries), text


async def test_a_replaced_checkpoint_is_named_by_verify_tenant(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, claim, _ = await signed_claim(audited.ledger)
    args = await online(audited, tenant, tmp_path)
    await behind_the_back(audited.ledger, (
        "UPDATE checkpoints SET root_hash = $1 "
        "WHERE tree_size = (SELECT max(tree_size) FROM checkpoints)", bytes(range(32))))
    later = f"later-{claim}"
    await audited.ledger.publish(claim_history(tenant, later, 2, start=600))
    await audited.ledger.wait_for(tenant, later, 2)
    code, text = await cli("verify-tenant", *args)
    assert code == 1 and f"tenant {tenant}: BROKEN" in text, text
    assert "does not verify" in text or "no new checkpoint is signed" in text, text
    code, text = await cli("verify", *args, "--claim", claim)
    assert code == 1 and ("does not verify" in text or "replaced" in text), text


async def test_the_report_says_broken_when_the_ledger_refuses_to_sign(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, claim, _ = await signed_claim(audited.ledger)
    args = await online(audited, tenant, tmp_path)
    await behind_the_back(audited.ledger, (
        "UPDATE checkpoints SET root_hash = $1 "
        "WHERE tree_size = (SELECT max(tree_size) FROM checkpoints)", bytes(range(32))))
    await audited.ledger.publish(claim_history(tenant, claim, 2, start=600))
    await audited.ledger.wait_for(tenant, claim, 14)
    report = tmp_path / "report.html"
    code, text = await cli("report", *args, "--claim", claim, "--out", str(report))
    assert code == 0 and "verification BROKEN" in text, text
    assert "no new checkpoint is signed" in report.read_text()


def rehashed(prev: bytes, chain: list[AuditEntry]) -> list[tuple[object, ...]]:
    """What a forger with database access runs after changing a chain: every later link and
    hash recomputed from `prev` on, so only the signed Merkle tree can tell."""
    statements: list[tuple[object, ...]] = []
    for entry in chain:
        digest = hashlib.sha256(prev + entry.canonical_bytes()).digest()
        statements.append((
            "UPDATE audit_entries SET prev_hash = $1, entry_hash = $2 WHERE event_id = $3",
            prev, digest, entry.facts.event_id,
        ))
        prev = digest
    return statements


def insert(entry: AuditEntry) -> tuple[object, ...]:
    columns = ", ".join(ENTRY_COLUMNS)
    params = ", ".join(f"${i + 1}" for i in range(len(ENTRY_COLUMNS)))
    return (f"INSERT INTO audit_entries ({columns}) VALUES ({params})", *entry_record(entry))


async def test_a_forged_row_in_a_gap_is_named_by_verify_and_verify_tenant(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    """A row is deleted and a forged one, hashed onto its predecessor, takes its position."""
    tenant, claim, entries = await signed_claim(audited.ledger)
    args = await online(audited, tenant, tmp_path)
    gone = mapping.entry_from_message(entries[5])
    fake = facts(tenant, claim, "PayerResponseReceived", notification_id=77_000,
                 payload={"amount_cents": 1, "party": "payer"}, aggregate_id=f"neg-{claim}")
    forged = place(fake, gone.log_index, gone.chain_seq, gone.prev_hash)
    await behind_the_back(
        audited.ledger,
        ("DELETE FROM audit_entries WHERE event_id = $1", gone.facts.event_id),
        insert(forged),
        *rehashed(forged.entry_hash, [mapping.entry_from_message(m) for m in entries[6:]]),
    )
    code, text = await cli("verify", *args, "--claim", claim)
    assert code == 1 and fake.event_id in text and "not_in_log" in text, text
    code, text = await cli("verify-tenant", *args)
    assert code == 1 and fake.event_id in text, text


async def test_a_forged_row_in_the_middle_of_a_chain_is_named_by_verify_and_verify_tenant(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    """A forged row is slipped in between two entries: the later ones move up a sequence
    number and every hash after it is recomputed."""
    tenant, claim, entries = await signed_claim(audited.ledger)
    args = await online(audited, tenant, tmp_path)
    before = mapping.entry_from_message(entries[5])
    fake = facts(tenant, claim, "PayerResponseReceived", notification_id=78_000,
                 payload={"amount_cents": 1, "party": "payer"}, aggregate_id=f"neg-{claim}")
    position = await log_size(audited.ledger, tenant) + 3
    forged = place(fake, position, before.chain_seq + 1, before.entry_hash)
    later = [mapping.entry_from_message(m) for m in entries[6:]]
    moved = [e._replace(chain_seq=e.chain_seq + 1) for e in later]
    await behind_the_back(
        audited.ledger,
        ("UPDATE audit_entries SET chain_seq = chain_seq + 1000000 WHERE event_id = ANY($1)",
         [e.facts.event_id for e in later]),
        *[("UPDATE audit_entries SET chain_seq = $1 WHERE event_id = $2", e.chain_seq,
           e.facts.event_id) for e in moved],
        insert(forged),
        *rehashed(forged.entry_hash, moved),
    )
    code, text = await cli("verify", *args, "--claim", claim)
    assert code == 1 and fake.event_id in text and "forged" in text, text
    code, text = await cli("verify-tenant", *args)
    assert code == 1 and fake.event_id in text and "forged" in text, text
