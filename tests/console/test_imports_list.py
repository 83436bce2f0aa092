"""The imports page's list of jobs, page by page: one kind at a time, ListImportJobs' own
pages ("Older 837 jobs"), newest first; both kinds together show the newest of each; another
tenant sees none of them."""

from __future__ import annotations

import html
import re
import uuid

import grpc
import pytest

from gateway.console.imports import RECENT_JOBS
from tests.console.conftest import Visitor, enrol_person
from tests.e2e.claim_files import many_claims_837
from tests.e2e.conftest import Stack
from tests.e2e.import_jobs import control_number
from tests.e2e.import_jobs import start as start_job
from tests.e2e.journey import Vendor

pytestmark = pytest.mark.asyncio(loop_scope="session")

_ROW = re.compile(r'<tr data-job-id="([0-9a-f-]+)"')
_OLDER = re.compile(r'<a href="([^"]+)" id="older-jobs">')


def listed(body: str) -> list[str]:
    return _ROW.findall(body)


async def test_the_jobs_of_one_kind_page_from_the_newest_to_the_oldest(
        stack: Stack, channel: grpc.aio.Channel) -> None:
    stack.require("claims")
    vendor = await Vendor.enrol(stack, channel)
    started = []  # oldest first
    for n in range(RECENT_JOBS + 1):  # uploading jobs are listed too: a start is enough
        content = many_claims_837(1, f"L{n:02d}{uuid.uuid4().hex[:4].upper()}", control_number())
        started.append((await start_job(vendor, content, "client-list")).job.job_id)
    visitor = Visitor(stack.http_port)
    await visitor.sign_in(await enrol_person(stack, vendor.tenant, "negotiator"))

    first = await visitor.get("/console/imports?kind=837")
    assert first.status == 200
    assert listed(first.body) == started[::-1][:RECENT_JOBS]
    assert '<strong aria-current="page">837 only</strong>' in first.body
    older = _OLDER.search(first.body)
    assert older, "no link to the older jobs"
    second = await visitor.get(html.unescape(older.group(1)).split("#")[0])  # as a browser
    assert second.status == 200
    assert listed(second.body) == started[:1]
    assert not _OLDER.search(second.body)

    both = await visitor.get("/console/imports")
    assert listed(both.body)[:RECENT_JOBS] == started[::-1][:RECENT_JOBS]
    assert not _OLDER.search(both.body)  # a merged list pages per kind only
    assert 'id="recent-kind-837"' in both.body

    # A page token that is not one: said on the page, nothing listed, the page still served.
    garbled = await visitor.get("/console/imports?kind=837&page=not-a-token")
    assert garbled.status == 200 and listed(garbled.body) == []
    assert "837 jobs: INVALID_ARGUMENT" in garbled.body

    other = await Vendor.enrol(stack, channel)
    outsider = Visitor(stack.http_port)
    await outsider.sign_in(await enrol_person(stack, other.tenant, "negotiator"))
    theirs = await outsider.get("/console/imports?kind=837")
    assert listed(theirs.body) == [] and "No import jobs yet." in theirs.body
