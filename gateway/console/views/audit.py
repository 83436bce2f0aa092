"""Audit: a claim's timeline from the ledger (every event of every service in chain order) with
each entry's hash and proof status, the verification verdict (VerifyClaim), the bundle an
auditor verifies offline (ExportClaim) and the printable report (GetClaimReport)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING
from urllib.parse import quote

from gateway.console import web
from gateway.console.app import Page
from gateway.console.cases import CLAIMS
from gateway.console.client import ServiceClient
from gateway.console.files import download
from gateway.http_server import Response
from oonledger.claims.v1 import claims_pb2
from oonledger.ledger.v1 import ledger_pb2 as lpb

if TYPE_CHECKING:
    from gateway.console.app import Console

AUDIT = "oonledger.ledger.v1.AuditService"
AUDIT_ROLES = ("auditor", "admin")
RECENT_CLAIMS = 50
VERDICTS = {lpb.VERIFICATION_STATUS_VERIFIED: "VERIFIED",
            lpb.VERIFICATION_STATUS_PENDING: "PENDING",
            lpb.VERIFICATION_STATUS_BROKEN: "BROKEN"}
# The report's own page: its inline styles only, no script, nothing fetched, sandboxed.
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
              "frame-ancestors 'none'; sandbox")


@dataclass(frozen=True)
class TimelineRow:
    entry: lpb.AuditEntry
    when: str
    entry_hash: str
    proof: str  # "proven" | "pending" | "broken"
    detail: str


def timeline(entries: list[lpb.AuditEntry], verdict: lpb.VerifyClaimResponse
             ) -> list[TimelineRow]:
    """Each entry's proof status from the verdict: broken when VerifyClaim names it, proven
    when it lies inside the signed checkpoint it verified against, pending after it."""
    breaks = {b.event_id: b for b in verdict.breaks}
    signed = verdict.checkpoint.tree_size
    rows = []
    for e in entries:
        fault = breaks.get(e.event_id)
        if fault is not None:
            proof = "broken"
            detail = f"{lpb.BreakKind.Name(fault.kind).removeprefix('BREAK_KIND_')}: " \
                     f"{fault.detail}"
        elif e.log_index < signed:
            proof, detail = "proven", f"in the checkpoint of size {signed}"
        else:
            proof, detail = "pending", "appended after the latest checkpoint"
        when = e.occurred_at.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S") \
            if e.HasField("occurred_at") else ""
        rows.append(TimelineRow(e, when, e.entry_hash.hex(), proof, detail))
    return rows


async def replay(client: ServiceClient, claim_id: str) -> list[lpb.AuditEntry]:
    entries: list[lpb.AuditEntry] = []
    async for chunk in client.stream(f"{AUDIT}/ReplayClaim",
                                     lpb.ReplayClaimRequest(claim_id=claim_id),
                                     lpb.ReplayClaimResponse):
        entries.extend(chunk.entries)
    return entries


def register(console: Console) -> None:
    router = console.router
    console.add_nav("Audit", "/console/audit", AUDIT_ROLES)

    @router.get("/console/audit", AUDIT_ROLES)
    async def audit_index(page: Page) -> Response:
        claim_id = page.query.get("claim", "").strip()
        pcn = page.query.get("pcn", "").strip()
        if claim_id:
            return page.redirect(f"/console/audit/claims/{quote(claim_id, safe='')}")
        found = await page.client.call(f"{CLAIMS}/ListClaims", claims_pb2.ListClaimsRequest(
            page_size=RECENT_CLAIMS, patient_control_number=pcn), claims_pb2.ListClaimsResponse)
        if pcn and len(found.claims) == 1:
            return page.redirect(f"/console/audit/claims/{found.claims[0].claim_id}")
        return page.render("audit.html", title="Audit", claims=list(found.claims), pcn=pcn,
                           status_name=lambda s: claims_pb2.ClaimStatus.Name(s).removeprefix(
                               "CLAIM_STATUS_").lower().replace("_", " "))

    @router.get("/console/audit/claims/{claim_id}", AUDIT_ROLES)
    async def audit_claim(page: Page) -> Response:
        claim_id = page.params["claim_id"]
        verdict = await page.client.call(f"{AUDIT}/VerifyClaim",
                                         lpb.VerifyClaimRequest(claim_id=claim_id),
                                         lpb.VerifyClaimResponse)
        rows = timeline(await replay(page.client, claim_id), verdict)
        return page.render("audit_claim.html", title=f"Audit {claim_id[:8]}",
                           claim_id=claim_id, verdict=verdict, rows=rows,
                           verdict_name=VERDICTS.get(verdict.status, "UNKNOWN"),
                           head_hash=verdict.head_hash.hex(),
                           root_hash=verdict.checkpoint.root_hash.hex())

    @router.get("/console/audit/claims/{claim_id}/bundle", AUDIT_ROLES)
    async def bundle(page: Page) -> Response:
        claim_id = page.params["claim_id"]
        exported = await page.client.call(f"{AUDIT}/ExportClaim",
                                          lpb.ExportClaimRequest(claim_id=claim_id),
                                          lpb.ExportClaimResponse)
        return download(exported.bundle_json, "application/json",
                        f"audit-bundle-{claim_id}.json")

    async def report(page: Page, form: int) -> lpb.GetClaimReportResponse:
        return await page.client.call(f"{AUDIT}/GetClaimReport", lpb.GetClaimReportRequest(
            claim_id=page.params["claim_id"], format=form), lpb.GetClaimReportResponse)

    @router.get("/console/audit/claims/{claim_id}/report.pdf", AUDIT_ROLES)
    async def report_pdf(page: Page) -> Response:
        printable = await report(page, lpb.REPORT_FORMAT_PDF)
        return download(printable.content, "application/pdf", printable.file_name,
                        inline=True)

    @router.get("/console/audit/claims/{claim_id}/report.html", AUDIT_ROLES)
    async def report_html(page: Page) -> Response:
        printable = await report(page, lpb.REPORT_FORMAT_HTML)
        headers = [(k, REPORT_CSP if k == "Content-Security-Policy" else v)
                   for k, v in web.SECURITY_HEADERS]
        return Response(200, printable.content, "text/html; charset=utf-8", headers)
