"""Exported bundles verify offline, and every way of forging or cutting one is reported."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.ledger.domain.bundle import load_bundle_text, verify_bundle
from services.ledger.domain.entry import chain_hash
from services.ledger.domain.signing import Signer
from services.ledger.tests.factories import claim_history, facts
from services.ledger.tests.memory_log import MemoryLog

TENANT, CLAIM = "tenant-a", "claim-1"
SIGNER = Signer.from_seed(bytes(range(32)))
OTHER_SIGNER = Signer.from_seed(bytes(range(1, 33)))
NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def exported(count: int = 4, signer: Signer = SIGNER) -> dict[str, Any]:
    log = MemoryLog(origin="test-ledger")
    history = claim_history(TENANT, CLAIM, count)
    log.append([history[0], facts("tenant-b", "claim-9"), *history[1:], facts(TENANT, "claim-2")])
    bundle = log.export(TENANT, CLAIM, history[0].chain, signer, NOW)
    return bundle.to_json()


def findings(document: Any, key: bytes | None = SIGNER.public_key) -> list[str]:
    report = verify_bundle(document, key)
    assert not report.ok
    return report.findings()


def test_exported_bundle_verifies_offline_with_the_published_key() -> None:
    report = verify_bundle(exported(), SIGNER.public_key)
    assert report.ok, report.findings()
    assert report.verdict is not None and report.verdict.anchored == 4


def test_bundle_survives_a_json_round_trip() -> None:
    text = json.dumps(exported())
    assert load_bundle_text(text, SIGNER.public_key).ok


def test_bundle_carries_only_its_own_tenant_and_claim() -> None:
    document = exported()
    assert {e["tenant_id"] for e in document["entries"]} == {TENANT}
    assert {e["claim_id"] for e in document["entries"]} == {CLAIM}
    assert "tenant-b" not in json.dumps(document)


def test_without_a_trusted_key_the_verifier_says_so() -> None:
    report = verify_bundle(exported(), None)
    assert report.ok
    assert any("no trusted public key" in note for note in report.notes)


def test_altered_entry_is_named() -> None:
    document = exported()
    document["entries"][2]["actor"] = "mallory@example.com"
    problems = findings(document)
    assert any("entry #3" in p and "content_altered" in p for p in problems)


def test_rehashed_forgery_is_caught_by_the_signed_tree() -> None:
    """Rewrite an amount and recompute every chain hash: the Merkle proofs no longer hold."""
    from services.ledger.domain.encoding import b64, unb64
    from services.ledger.domain.entry_codec import entry_from_json

    document = exported()
    entries = document["entries"]
    entries[1]["payload"] = "eyJhbW91bnRfY2VudHMiOjF9"  # {"amount_cents":1}
    prev = unb64(entries[1]["prev_hash"])
    for item in entries[1:]:
        item["prev_hash"] = b64(prev)
        entry = entry_from_json(item)
        item["entry_hash"] = b64(chain_hash(prev, entry.canonical_bytes()))
        prev = unb64(item["entry_hash"])
    problems = findings(document)
    assert any("entry #2" in p and "not_in_log" in p for p in problems)


def test_truncated_bundle_is_detected() -> None:
    document = exported()
    document["entries"].pop()
    assert any("entries were removed" in p for p in findings(document))


def test_deleted_middle_entry_is_detected() -> None:
    document = exported()
    del document["entries"][1]
    assert any("entry #2 is missing" in p for p in findings(document))


def test_checkpoint_signed_by_another_key_is_refused() -> None:
    problems = findings(exported(signer=OTHER_SIGNER))
    assert any("not by the trusted key" in p for p in problems)


def test_forged_checkpoint_root_fails_its_signature() -> None:
    document = exported()
    document["checkpoint"]["tree_size"] += 1
    assert any("checkpoint: signature" in p for p in findings(document, None))


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("entries"), "missing 'entries'"),
        (lambda d: d.update(format="other/v9"), "unknown bundle format"),
        (lambda d: d["entries"][0].update(log_index="7"), "position 0 is malformed"),
        (lambda d: d["checkpoint"].update(root_hash="***"), "malformed"),
    ],
)
def test_malformed_bundles_say_what_is_wrong(mutate: Any, expected: str) -> None:
    document = copy.deepcopy(exported())
    mutate(document)
    assert any(expected in p for p in findings(document))


def test_non_json_input_is_reported() -> None:
    report = load_bundle_text(b"\x00not json", SIGNER.public_key)
    assert not report.ok and "not valid JSON" in report.findings()[0]
