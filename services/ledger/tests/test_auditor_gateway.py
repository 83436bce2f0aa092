"""The auditor tool through the partner gateway with an auditor API key (issue 14, items 4-5):
the README journey exactly as written, the report, verify-tenant, and bad input."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import pathlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import grpc
import pypdf
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.tests.conftest import bearer, http_request
from oonledger.ledger.v1 import ledger_pb2, ledger_pb2_grpc
from services.ledger.domain.checkpoint import SignedCheckpoint
from services.ledger.domain.encoding import b64
from services.ledger.domain.entry import EventFacts
from services.ledger.domain.signing import Signer, pem_of
from services.ledger.tests.factories import BASE_TIME, claim_history, facts, negotiated_claim
from services.ledger.tests.gateway_harness import Audited, cli, shell, start_audited
from services.ledger.tests.memory_log import MemoryLog
from tests.support.plugin import ServiceRunner, call_metadata

pytestmark = pytest.mark.asyncio(loop_scope="session")
README = pathlib.Path(__file__).parents[3] / "README.md"
STRANGER = Signer.from_seed(bytes(range(32)))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def audited(
    service_runner: ServiceRunner, tmp_path_factory: pytest.TempPathFactory, namespace: str
) -> AsyncIterator[Audited]:
    started = await start_audited(
        service_runner, tmp_path_factory.mktemp("auditor-keys"), namespace=f"{namespace}ag"
    )
    yield started
    await started.close(service_runner)


def decisions(tenant: str, claim: str, start: int) -> list[EventFacts]:
    """The provider's approval of accepting the payer's counter-offer."""
    at = BASE_TIME + timedelta(minutes=5, seconds=30)
    return [
        facts(tenant, claim, "DecisionProposed", notification_id=start, occurred_at=at,
              aggregate_id=f"neg-{claim}", payload={
                  "decision_id": "accept-1", "action": "accept", "offer_id": "o2",
                  "counter_amount_cents": 0, "rationale": "within the client's range"}),
        facts(tenant, claim, "DecisionApproved", notification_id=start + 1,
              occurred_at=at + timedelta(seconds=10), aggregate_id=f"neg-{claim}", payload={
                  "decision_id": "accept-1", "approved_by": "pat@provider.example",
                  "auto_approval_rule_id": ""}),
    ]


async def claim_of(audited: Audited, tenant: str | None = None) -> tuple[str, str, int]:
    """(tenant, claim id, entries) of a negotiated claim the ledger has appended."""
    tenant = tenant or f"tenant-{uuid.uuid4().hex[:8]}"
    claim = f"claim-{uuid.uuid4().hex[:8]}"
    events = negotiated_claim(tenant, claim) + decisions(tenant, claim, 500)
    await audited.ledger.publish(events)
    await audited.ledger.wait_for(tenant, claim, len(events))
    return tenant, claim, len(events)


def readme_journey() -> list[str]:
    """The `$A ...` lines of the README's auditor section, exactly as written."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## How an auditor replays and verifies a claim", 1)[1].split("\n## ")[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines()
            if line.startswith("$A ")]


async def test_the_readme_auditor_journey_works_exactly_as_written(
    audited: Audited, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, claim, count = await claim_of(audited)
    monkeypatch.setenv("OON_API_KEY", await audited.key(tenant, "auditor"))
    monkeypatch.chdir(tmp_path)
    lines = readme_journey()
    assert len(lines) >= 11 and any("consistency" in line for line in lines)
    outputs: dict[str, str] = {}
    for n, line in enumerate(lines):
        command = (line.removeprefix("$A ").replace("$G", audited.target)
                   .replace("<claim id>", claim))
        if n == 2:  # between the two checkpoints of the journey, the ledger grows
            await audited.ledger.publish(claim_history(tenant, f"other-{claim}", 3, start=700))
            await audited.ledger.wait_for(tenant, f"other-{claim}", 3)
        code, text = await shell(command)
        assert code == 0, f"{line}\n{text}"
        assert "Traceback" not in text
        outputs.setdefault(command.split()[0], "")
        outputs[command.split()[0]] += text
    assert STRANGER.key_id not in outputs["public-key"]
    assert (tmp_path / "ledger-key.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert f"claim {claim}" in outputs["replay"] and "amount=$3,600.00" in outputs["replay"]
    assert "!!" not in outputs["replay"]
    assert "VERIFIED" in outputs["verify"]
    assert f"{count} entries" in outputs["verify-bundle"]
    assert "consistent: the log of size" in outputs["consistency"]
    assert f"tenant {tenant}: VERIFIED" in outputs["verify-tenant"]
    assert "consistent with 1 of 1 pinned" in outputs["verify-tenant"]
    assert (tmp_path / "claim-report.pdf").read_bytes().startswith(b"%PDF")
    assert b"<html" in (tmp_path / "claim-report.html").read_bytes()
    saved = SignedCheckpoint.from_json(json.loads((tmp_path / "checkpoint-today.json").read_text()))
    old = SignedCheckpoint.from_json(
        json.loads((tmp_path / "checkpoint-last-month.json").read_text()))
    assert saved.checkpoint.tree_size > old.checkpoint.tree_size


async def test_the_pdf_report_reads_as_an_audit_report(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, claim, _ = await claim_of(audited)
    key = await audited.key(tenant, "auditor")
    out = tmp_path / "report.pdf"
    code, text = await cli("report", "--target", audited.target, "--api-key", key,
                           "--claim", claim, "--out", str(out))
    assert code == 0, text
    pdf = pypdf.PdfReader(io.BytesIO(out.read_bytes()))
    content = " ".join(" ".join(page.extract_text() for page in pdf.pages).split())
    assert claim in content
    assert "$3,600.00" in content and "400.0%" in content  # the provider's offer vs QPA $900
    assert "$1,500.00" in content and "166.7%" in content  # the payer's counter-offer
    assert "pat@provider.example" in content  # who approved the decision
    assert "VERIFIED" in content and "checkpoint of size" in content
    assert "payment_due" in content and "$300.00" in content  # deadline, contingency fee


async def test_the_report_comes_from_the_api_as_html(audited: Audited) -> None:
    tenant, claim, _ = await claim_of(audited)
    key = await audited.key(tenant, "auditor")
    async with grpc.aio.insecure_channel(audited.target) as channel:
        stub = ledger_pb2_grpc.AuditServiceStub(channel)
        metadata = (("authorization", f"Bearer {key}"),)
        reply = await stub.GetClaimReport(ledger_pb2.GetClaimReportRequest(
            claim_id=claim, format=ledger_pb2.REPORT_FORMAT_HTML), metadata=metadata)
        assert reply.content_type.startswith("text/html")
        html = reply.content.decode()
        assert claim in html and "400.0%" in html and "approved" in html
        assert reply.file_name == f"audit-report-{claim}.html"
        with pytest.raises(grpc.aio.AioRpcError) as unspecified:
            await stub.GetClaimReport(ledger_pb2.GetClaimReportRequest(claim_id=claim),
                                      metadata=metadata)
        assert unspecified.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        negotiator = await audited.key(tenant, "negotiator")
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.GetClaimReport(ledger_pb2.GetClaimReportRequest(
                claim_id=claim, format=ledger_pb2.REPORT_FORMAT_PDF),
                metadata=(("authorization", f"Bearer {negotiator}"),))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_verify_tenant_proves_every_chain_of_the_tenant_and_nothing_else(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, _, count = await claim_of(audited)
    # A long chain (sent in several chunks) and an aggregate chain (no claim).
    long_claim = f"long-{uuid.uuid4().hex[:6]}"
    await audited.ledger.publish(claim_history(tenant, long_claim, 620, start=1000))
    schedule = facts(tenant, "", "FeeSchedulePublished", notification_id=2000,
                     service="fees", aggregate_type="FeeSchedule", aggregate_id="sched-1")
    await audited.ledger.publish([schedule])
    await audited.ledger.wait_for(tenant, long_claim, 620)
    await claim_of(audited)  # another tenant's claim: not counted, not seen
    key = await audited.key(tenant, "auditor")
    pin = tmp_path / "key.pem"
    online = ["--target", audited.target, "--api-key", key]
    assert (await cli("public-key", *online, "--pin", str(pin)))[0] == 0
    code, text = await cli("verify-tenant", *online, "--public-key", str(pin))
    assert code == 0, text
    assert f"tenant {tenant}: VERIFIED — 3 chains, {count + 620 + 1} entries" in text


async def test_the_tenant_comes_from_the_key(audited: Audited) -> None:
    tenant, claim, _ = await claim_of(audited)
    key = await audited.key(tenant, "auditor")
    code, text = await cli("verify", "--target", audited.target, "--api-key", key,
                           "--tenant", "someone-else", "--claim", claim)
    assert code == 2 and "drop --tenant" in text and len(text.splitlines()) == 1
    code, text = await cli("verify", "--target", audited.target, "--api-key", "",
                           "--claim", claim)
    assert code == 2 and "API key" in text and len(text.splitlines()) == 1


async def test_a_ledger_serving_another_key_is_refused(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, claim, _ = await claim_of(audited)
    key = await audited.key(tenant, "auditor")
    other = tmp_path / "other.pem"
    other.write_text(pem_of(STRANGER.public_key))
    online = ["--target", audited.target, "--api-key", key]
    for command in (["verify", "--claim", claim], ["replay", "--claim", claim],
                    ["checkpoint", "--out", str(tmp_path / "cp.json")],
                    ["verify-tenant"], ["public-key", "--pin", str(other)]):
        code, text = await cli(*command, *online, "--public-key", str(other))
        assert code == 1 and "REFUSED" in text and STRANGER.key_id in text, (command, text)
    assert not (tmp_path / "cp.json").exists()


def bundle_of(tmp_path: pathlib.Path) -> pathlib.Path:
    log = MemoryLog(origin="bad-input")
    history = claim_history("t", "c", 4)
    log.append(history)
    bundle = log.export("t", "c", history[0].chain, STRANGER, BASE_TIME)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle.to_json()))
    return path


async def test_bad_input_is_one_line_and_a_failing_exit(
    audited: Audited, tmp_path: pathlib.Path
) -> None:
    tenant, claim, _ = await claim_of(audited)
    key = await audited.key(tenant, "auditor")
    online = ["--target", audited.target, "--api-key", key]
    bundle = bundle_of(tmp_path)
    trusted = b64(STRANGER.public_key)
    empty = tmp_path / "empty"
    empty.write_text("")
    truncated = tmp_path / "truncated.json"
    truncated.write_text(bundle.read_text()[:300])
    forged = tmp_path / "forged.json"
    document = json.loads(bundle.read_text())
    document["entries"][1]["payload"] = base64.b64encode(b'{"amount_cents":1}').decode()
    forged.write_text(json.dumps(document))
    mine = tmp_path / "mine.json"
    assert (await cli("checkpoint", *online, "--out", str(mine)))[0] == 0
    signed_elsewhere = tmp_path / "elsewhere.json"
    log = MemoryLog(origin="elsewhere")
    log.append(claim_history("t", "c", 2))
    signed_elsewhere.write_text(json.dumps(log.checkpoint(STRANGER, BASE_TIME).to_json()))
    old_format = tmp_path / "v1.json"
    old_format.write_text(json.dumps({**json.loads(bundle.read_text()),
                                      "format": "oonledger.audit-bundle/v1"}))
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    garbled_pem = tmp_path / "garbled.pem"
    garbled_pem.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    cases: list[tuple[list[str], int, str]] = [
        (["verify-bundle", str(old_format), "--public-key", trusted], 1, "export the claim again"),
        (["verify-bundle", str(bundle), "--public-key", str(ec_key)], 2, "not an Ed25519"),
        (["verify-bundle", str(bundle), "--public-key", str(garbled_pem)], 2, "not a readable PEM"),
        (["verify-bundle", str(bundle), "--public-key", str(empty)], 2, "is empty"),
        (["verify-bundle", str(bundle), "--public-key", b64(bytes(31))], 2, "31 bytes"),
        (["verify-bundle", str(bundle), "--public-key", b64(bytes(33))], 2, "33 bytes"),
        (["verify-bundle", str(bundle), "--public-key", "00" * 32], 2, "48 bytes"),
        (["verify-bundle", str(bundle), "--public-key", "no-such.pem"], 2, "no such key"),
        (["verify-bundle", str(empty), "--public-key", trusted], 2, "is empty"),
        (["verify-bundle", str(tmp_path / "absent.json")], 2, "No such file"),
        (["verify-bundle", str(truncated), "--public-key", trusted], 1, "not valid JSON"),
        (["verify-bundle", str(forged), "--public-key", trusted], 1, "content_altered"),
        (["verify-bundle", str(bundle), "--public-key", str(mine)], 2, "not base64"),
        (["consistency", "--old", str(empty), *online], 2, "is empty"),
        (["consistency", "--old", str(bundle), *online], 2, "not a checkpoint"),
        (["consistency", "--old", str(signed_elsewhere), *online], 1, "not by the trusted key"),
        (["verify-tenant", *online, "--pinned", str(signed_elsewhere)], 1,
         "not by the trusted key"),
        (["report", *online, "--claim", claim, "--out", str(tmp_path / "r.docx")], 2,
         ".pdf or .html"),
        (["verify", *online, "--claim", ""], 2, "INVALID_ARGUMENT"),
        (["verify", *online, "--claim", "no-such-claim"], 2, "NOT_FOUND"),
        (["export", *online, "--claim", claim], 2, "--out"),
        (["nonsense"], 2, "invalid choice"),
        (["verify", "--target", audited.target, "--api-key", "oon_not-a-key", "--claim", claim],
         2, "UNAUTHENTICATED"),
        (["verify", "--target", "127.0.0.1:9", "--api-key", key, "--claim", claim], 2,
         "UNAVAILABLE"),
    ]
    for argv, expected, reason in cases:
        code, text = await cli(*argv)
        assert code == expected and reason in text, (argv, code, text)
        assert "Traceback" not in text
        assert expected == 1 or len(text.strip().splitlines()) == 1, (argv, text)


@pytest.mark.parametrize("up_to", [
    "2026-11-02", "20261102", "2026-W45-1", "2026-11-02T14:04:00Z", "2026-11-02T09:04:00-05:00",
    "2026-11-02 14:04:00.000000+00:00", "2026-11-02T14:04+00:00",
])
async def test_dates_in_any_iso_form_are_taken(audited: Audited, up_to: str) -> None:
    tenant, claim, _ = await claim_of(audited)
    key = await audited.key(tenant, "auditor")
    code, text = await cli("replay", "--target", audited.target, "--api-key", key,
                           "--claim", claim, "--up-to", up_to)
    assert code == 0, text
    assert re.search(r"claim \S+ \(tenant \S+\): \d+ events", text)
    assert "OfferMade" in text


@pytest.mark.parametrize(("up_to", "reason"), [
    ("2026-11-02T14:04", "has no UTC offset"),
    ("2026-11-02T14:04:00", "has no UTC offset"),
    ("2026-13-02", "not an ISO-8601 date"),
    ("02/11/2026", "not an ISO-8601 date"),
    ("", "empty date"),
    ("9999-12-31", "out of range"),
    ("2026-10-01", "did not exist yet"),
])
async def test_bad_dates_are_one_line_and_a_failing_exit(
    audited: Audited, up_to: str, reason: str
) -> None:
    tenant, claim, _ = await claim_of(audited)
    key = await audited.key(tenant, "auditor")
    code, text = await cli("replay", "--target", audited.target, "--api-key", key,
                           "--claim", claim, "--up-to", up_to)
    assert code == 2 and reason in text and len(text.strip().splitlines()) == 1, text


async def test_the_report_over_json_comes_back_as_base64_content(audited: Audited) -> None:
    tenant, claim, _ = await claim_of(audited)
    key = await audited.key(tenant, "auditor")
    reply = await http_request(
        audited.process.http_port, "POST", "/v1/audit/GetClaimReport",
        json.dumps({"claimId": claim, "format": "REPORT_FORMAT_PDF"}).encode(), bearer(key))
    assert reply.status == 200, reply.body[:300]
    body = reply.json()
    assert body["contentType"] == "application/pdf" and body["status"] in (
        "VERIFICATION_STATUS_VERIFIED", "VERIFICATION_STATUS_PENDING")
    assert base64.b64decode(body["content"]).startswith(b"%PDF")


async def test_more_tenant_replays_at_once_than_connections_all_finish(
    audited: Audited,
) -> None:
    """Each replay holds one connection (its cursor; proofs are read on it between fetches):
    more replays open at once than the pool has connections all finish, chunked."""
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    claim = f"big-{uuid.uuid4().hex[:6]}"
    await audited.ledger.publish(claim_history(tenant, claim, 600, start=1))
    await audited.ledger.wait_for(tenant, claim, 600)
    ledger = audited.ledger
    streams = [
        ledger.stub.ReplayTenant(ledger_pb2.ReplayTenantRequest(), metadata=call_metadata(tenant))
        for _ in range(ledger.runtime.settings.db_pool_size + 4)
    ]
    for stream in streams:
        assert (await stream.read()).HasField("log")

    async def drain(stream: Any) -> int:
        entries = 0
        while (message := await stream.read()) is not grpc.aio.EOF:
            entries += len(message.chunk.entries)
        return entries

    counts = await asyncio.wait_for(asyncio.gather(*map(drain, streams)), timeout=60)
    assert counts == [600] * len(streams)
