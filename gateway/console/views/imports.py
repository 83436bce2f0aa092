"""Imports: the tenant's recent import jobs of both kinds (newest first, each linking to its
page), and an upload of an 837 or 835 (a multipart form), which starts an import job of the
service that owns the kind; the job page shows a live progress bar (static/imports.js polls the
job's JSON status here) and the findings, page by page."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from gateway.console import web
from gateway.console.app import Page
from gateway.console.client import new_request_id
from gateway.console.files import parse_multipart
from gateway.console.imports import (
    ENDED,
    KINDS,
    NETWORK,
    PLAN_FUNDING,
    STATES,
    ClaimFacts,
    ImportKind,
    get_job,
    kind_of,
    percent,
    recent_jobs,
    status_json,
    upload,
)
from gateway.http_server import Response
from gateway.statuses import CallFailure

if TYPE_CHECKING:
    from gateway.console.app import Console

IMPORT_ROLES = ("negotiator", "finance", "admin")  # who may start a job (per kind: the service)
JOB_ROLES = (*IMPORT_ROLES, "auditor", "supervisor", "manager")  # who may follow one
FINDINGS_PAGE = 100


def register(console: Console) -> None:
    router = console.router
    console.add_nav("Imports", "/console/imports", IMPORT_ROLES)

    def kinds_for(page: Page) -> list[tuple[ImportKind, str]]:
        """Each kind with why this person cannot start it ("" when they can)."""
        client = page.client
        out = []
        for kind in KINDS.values():
            reason = kind.missing(console.gateway)
            if not reason and not client.may(kind.method("StartImport")):
                reason = "not for your role"
            out.append((kind, reason))
        return out

    async def form_page(page: Page, status: int = 200, error: str = "") -> Response:
        listed = page.query.get("kind", "") if page.request.method == "GET" else ""
        recent = await recent_jobs(page.client, console.gateway, kind=listed,
                                   page_token=page.query.get("page", "") if listed else "")
        return page.render("imports.html", status, title="Imports", kinds=kinds_for(page),
                           plan_funding=list(PLAN_FUNDING), network=list(NETWORK),
                           error=error, form=page.form, recent=recent,
                           listed_kinds=list(KINDS))

    @router.get("/console/imports", IMPORT_ROLES)
    async def imports(page: Page) -> Response:
        return await form_page(page)

    @router.post("/console/imports", IMPORT_ROLES)
    async def start(page: Page) -> Response:
        f = page.form
        file = parse_multipart(page.request).files.get("file")
        if file is None or not file.data:
            return await form_page(page, 400, "file: choose an X12 837 or 835 file")
        kind = KINDS.get(kind_of(file.data, f.get("kind", "")))
        if kind is None:
            return await form_page(page, 400, "kind: 837 or 835 (the file has no ST*837 or ST*835)")
        allowed = dict((k.kind, reason) for k, reason in kinds_for(page))
        if allowed[kind.kind]:
            status = 403 if allowed[kind.kind] == "not for your role" else 400
            return await form_page(page, status, f"{kind.kind}: {allowed[kind.kind]}")
        facts = ClaimFacts(client_id=f.get("client_id", "").strip(),
                           plan_funding=f.get("plan_funding", ""),
                           situs_state=f.get("situs_state", "").strip().upper(),
                           network=f.get("network", ""),
                           facility_state=f.get("facility_state", "").strip().upper())
        if kind.kind == "837" and not facts.client_id:
            return await form_page(page, 400, "client: whose claims these are (the client id)")
        try:
            job = await upload(page.client, kind, file.data, file.file_name[:200],
                               f.get("request_id") or new_request_id(), facts)
        except CallFailure as refused:
            return await form_page(page, refused.http_status,
                                   f"{refused.code.name}: {refused.message}")
        return page.redirect(f"/console/imports/{kind.kind}/{job.job_id}")

    @router.post("/console/imports/open", JOB_ROLES)
    async def open_job(page: Page) -> Response:
        kind, job_id = page.form.get("kind", ""), page.form.get("job_id", "").strip()
        if kind not in KINDS or not job_id.replace("-", "").isalnum():
            return await form_page(page, 400, "job: a kind and a job id")
        return page.redirect(f"/console/imports/{kind}/{job_id}")

    def kind_param(page: Page) -> ImportKind | None:
        kind = KINDS.get(page.params["kind"])
        return kind if kind is not None and not kind.missing(console.gateway) else None

    @router.get("/console/imports/{kind}/{job_id}", JOB_ROLES)
    async def job_page(page: Page) -> Response:
        kind = kind_param(page)
        if kind is None:
            return page.render("error.html", 404, title="Not found",
                               message=f"no import jobs of kind {page.params['kind']}")
        offset = int(page.query["offset"]) if page.query.get("offset", "").isdigit() else 0
        job = await get_job(page.client, kind, page.params["job_id"], offset, FINDINGS_PAGE)
        return page.render("import_job.html", title=f"{kind.kind} import", kind=kind, job=job,
                           state=STATES.get(job.state, "unknown"), percent=percent(job),
                           ended=job.state in ENDED, offset=offset, page_size=FINDINGS_PAGE)

    @router.get("/console/imports/{kind}/{job_id}/status", JOB_ROLES)
    async def job_status(page: Page) -> Response:
        kind = kind_param(page)
        if kind is None:
            return _json(404, {"error": f"no import jobs of kind {page.params['kind']}"})
        try:
            job = await get_job(page.client, kind, page.params["job_id"], 0, 1)
        except CallFailure as refused:
            return _json(refused.http_status, {"error": f"{refused.code.name}: "
                                                        f"{refused.message}"})
        return _json(200, status_json(kind, job))


def _json(status: int, body: dict[str, object]) -> Response:
    return Response(status, json.dumps(body).encode(), "application/json",
                    list(web.SECURITY_HEADERS))
