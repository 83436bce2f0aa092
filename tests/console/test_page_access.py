"""Who reaches the imports, finance and audit pages (over plain HTTP): each role only its own
pages (403 otherwise), the upload form's CSRF token, a kind a role may not import, and the
imports page's list of the tenant's jobs (only its own)."""

from __future__ import annotations

import uuid

import grpc

from gateway.console.imports import KINDS
from tests.console.conftest import Visitor, console_of, enrol_person
from tests.console.pages_support import post_multipart
from tests.e2e.claim_files import many_claims_837
from tests.e2e.conftest import Stack
from tests.e2e.import_jobs import control_number, start_835
from tests.e2e.import_jobs import start as start_job
from tests.e2e.journey import Vendor

PAGES = ("/console/imports", "/console/finance", "/console/audit")
ALLOWED = {
    "negotiator": {"/console/imports"},
    "finance": {"/console/imports", "/console/finance"},
    "auditor": {"/console/audit"},
    "provider_approver": set(),
    "admin": set(PAGES),
}


async def test_each_role_reaches_only_its_pages(stack: Stack) -> None:
    stack.require("claims", "fees", "ledger")
    tenant = f"vendor-{uuid.uuid4().hex[:8]}"
    for role, allowed in ALLOWED.items():
        visitor = Visitor(stack.http_port)
        await visitor.sign_in(await enrol_person(stack, tenant, role))
        for path in PAGES:
            reply = await visitor.get(path)
            expected = 200 if path in allowed else 403
            assert reply.status == expected, (role, path, reply.status, reply.body[:300])
            if expected == 403:
                assert "Not for your role" in reply.body
        # Downloads and sub-pages follow their page's roles.
        for path in ("/console/finance/lines.csv?client=c-1", "/console/finance/invoices/x/pdf",
                     "/console/audit/claims/x/bundle", "/console/audit/claims/x/report.pdf"):
            section = "/console/" + path.split("/")[2]
            reply = await visitor.get(path)
            if section not in allowed:
                assert reply.status == 403, (role, path, reply.status)
        # The menu offers exactly the pages the role may use.
        menu = (await visitor.get("/console/account")).body
        for path in PAGES:
            assert (f'href="{path}"' in menu) == (path in allowed), (role, path)


async def test_an_upload_needs_the_form_token_and_a_kind_the_role_may_import(
        stack: Stack) -> None:
    stack.require("claims")
    tenant = f"vendor-{uuid.uuid4().hex[:8]}"
    content = many_claims_837(1, f"Q{uuid.uuid4().hex[:6].upper()}", 42)
    finance = Visitor(stack.http_port)
    await finance.sign_in(await enrol_person(stack, tenant, "finance"))
    form = await finance.get("/console/imports")
    assert form.status == 200
    # The 837 is the claims service's: finance may not start it.
    assert 'id="kind-837"\n        disabled' in form.body or "not for your role" in form.body
    fields = {"csrf": form.csrf, "request_id": uuid.uuid4().hex, "kind": "837",
              "client_id": "client-q"}
    refused = await post_multipart(finance, "/console/imports", fields, "file", "a.837",
                                   content)
    assert refused.status == 403 and "837: not for your role" in refused.body
    # Without the token (or with another), nothing is started.
    negotiator = Visitor(stack.http_port)
    await negotiator.sign_in(await enrol_person(stack, tenant, "negotiator"))
    page = await negotiator.get("/console/imports")
    for token in ("", "forged", form.csrf):
        reply = await post_multipart(negotiator, "/console/imports",
                                     {**fields, "csrf": token}, "file", "a.837", content)
        assert reply.status == 403 and "CSRF" in reply.body
    # With it, the job starts (and the same file again opens the same job).
    first = await post_multipart(negotiator, "/console/imports",
                                 {**fields, "csrf": page.csrf}, "file", "a.837", content)
    assert first.status == 303, first.body[:500]
    job = first.header("location")
    assert job.startswith("/console/imports/837/")
    again = await post_multipart(negotiator, "/console/imports",
                                 {**fields, "csrf": page.csrf, "request_id": uuid.uuid4().hex},
                                 "file", "a.837", content)
    assert again.header("location") == job
    # A file that is no X12 of either kind is refused with the reason.
    bad = await post_multipart(negotiator, "/console/imports",
                               {**fields, "csrf": page.csrf, "kind": ""}, "file", "x.txt",
                               b"hello")
    assert bad.status == 400 and "kind: 837 or 835" in bad.body
    # When settlement serves 835 jobs, the negotiator may not start one.
    if not KINDS["835"].missing(console_of(stack).gateway):
        refused = await post_multipart(negotiator, "/console/imports",
                                       {**fields, "csrf": page.csrf, "kind": "835"}, "file",
                                       "p.835", b"ISA*00*~ST*835*0001~")
        assert refused.status == 403


async def test_the_imports_page_lists_the_tenants_jobs_of_both_kinds_newest_first(
        stack: Stack, channel: grpc.aio.Channel) -> None:
    """Jobs started through the API (not by the console) are listed on the imports page
    (ListImportJobs of each service), newest first, each linking to its page; another
    tenant's page lists none of them."""
    stack.require("claims", "settlement")
    vendor = await Vendor.enrol(stack, channel)
    claims_file = many_claims_837(1, f"R{uuid.uuid4().hex[:6].upper()}", control_number())
    older = (await start_job(vendor, claims_file, "client-r")).job
    remittance = f"ISA*00*~ST*835*{uuid.uuid4().hex[:9]}~".encode()
    newer = (await start_835(vendor, remittance)).job
    finance = Visitor(stack.http_port)
    await finance.sign_in(await enrol_person(stack, vendor.tenant, "finance"))
    page = await finance.get("/console/imports")
    assert page.status == 200, page.body[:500]
    links = [f'href="/console/imports/{job.kind}/{job.job_id}"' for job in (newer, older)]
    assert all(link in page.body for link in links), page.body
    assert page.body.index(links[0]) < page.body.index(links[1])  # newest first
    assert "uploading" in page.body.split('id="recent-jobs"', 1)[1]
    assert 'role="alert"' not in page.body  # both kinds listed: no problem to report

    stranger = Visitor(stack.http_port)
    await stranger.sign_in(await enrol_person(stack, f"other-{vendor.tenant}", "negotiator"))
    other = await stranger.get("/console/imports")
    assert other.status == 200 and 'id="no-recent-jobs"' in other.body
    assert older.job_id not in other.body and newer.job_id not in other.body
