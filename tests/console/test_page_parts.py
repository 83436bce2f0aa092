"""The pieces of the imports, finance and audit pages without a stack: the multipart parser,
the kind of an X12 file, a job's percentage, the recent jobs of both kinds merged, CSV cells,
the ROI chart, proof statuses."""

from __future__ import annotations

from gateway.console.charts_finance import roi_chart
from gateway.console.files import parse_multipart
from gateway.console.finance_export import lines_csv
from gateway.console.imports import kind_of, newest_first, percent
from gateway.console.views.audit import timeline
from gateway.console.views.finance import period_of
from gateway.http_server import Request
from oonledger.common.v1 import import_job_pb2 as jobs_pb
from oonledger.fees.v1 import fees_pb2
from oonledger.ledger.v1 import ledger_pb2 as lpb


def multipart_request(body: bytes, boundary: str = "XyZ") -> Request:
    return Request("POST", "/console/imports", "",
                   {"content-type": f"multipart/form-data; boundary={boundary}"}, body,
                   "127.0.0.1")


def test_a_multipart_form_gives_its_fields_and_its_file_byte_for_byte() -> None:
    data = b"ISA*00~\r\nST*837*0001~\n\x00\xff--XyZ not a boundary\r\n"
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntoken\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.837\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n--XyZ--\r\n")
    form = parse_multipart(multipart_request(body))
    assert form.fields == {"csrf": "token"}
    assert form.files["file"].data == data and form.files["file"].file_name == "a b.837"


def test_a_malformed_multipart_body_is_an_empty_form() -> None:
    assert parse_multipart(multipart_request(b"--other\r\ngarbage")).fields == {}
    assert parse_multipart(multipart_request(b"", boundary="")).files == {}


def test_the_kind_is_the_chosen_one_else_the_first_st_segment() -> None:
    assert kind_of(b"ISA*00*~GS*HP~ST*835*0001~", "") == "835"
    assert kind_of(b"ISA|00|~ST|837|0001~", "") == "837"
    assert kind_of(b"ISA*00*~ST*835*0001~", "837") == "837"
    assert kind_of(b"hello STATE", "") == ""


def test_a_job_percentage_follows_its_phase() -> None:
    job = jobs_pb.ImportJob(state=jobs_pb.IMPORT_JOB_STATE_UPLOADING, total_bytes=200,
                            progress=jobs_pb.ImportProgress(bytes_received=100))
    assert percent(job) == 50
    job.state = jobs_pb.IMPORT_JOB_STATE_PROCESSING
    assert percent(job) is None  # reading: not counted yet
    job.progress.items_read, job.progress.items_processed = 40, 10
    assert percent(job) == 25
    job.progress.items_processed = 40
    assert percent(job) == 99  # all handled, the job not yet ended
    job.state = jobs_pb.IMPORT_JOB_STATE_SUCCEEDED
    assert percent(job) == 100


def test_a_csv_cell_a_spreadsheet_would_run_is_text() -> None:
    csv = lines_csv([fees_pb2.FeeLine(line_id="=HYPERLINK(1)", amount_cents=-500,
                                      kind=fees_pb2.FEE_LINE_KIND_CREDIT_MEMO)]).decode()
    row = csv.splitlines()[1]
    assert row.startswith("'=HYPERLINK(1),credit memo,") and ",-500,'-5.00," in row


def test_the_roi_chart_draws_each_payer_with_a_text_alternative() -> None:
    svg = str(roi_chart([fees_pb2.RoiGroup(key="<Plan>", figures=fees_pb2.RoiFigures(
        initial_payments_cents=45_000, recovered_cents=60_000, fees_cents=15_000,
        net_to_client_cents=45_000))]))
    assert svg.count('class="bar-recovered"') == 2  # the payer's bar and the legend
    assert "&lt;Plan&gt;" in svg and "<Plan>" not in svg
    assert "recovered $600" in svg


def test_proof_status_of_each_entry_follows_the_verdict() -> None:
    entries = [lpb.AuditEntry(event_id=f"e{i}", log_index=i, chain_seq=i + 1,
                              entry_hash=bytes([i]) * 32) for i in range(3)]
    verdict = lpb.VerifyClaimResponse(
        checkpoint=lpb.SignedCheckpoint(tree_size=2),
        breaks=[lpb.ChainBreak(event_id="e0", kind=lpb.BREAK_KIND_CONTENT_ALTERED,
                               detail="hash differs")])
    rows = timeline(entries, verdict)
    assert [r.proof for r in rows] == ["broken", "proven", "pending"]
    assert rows[0].detail == "CONTENT_ALTERED: hash differs"
    assert rows[1].entry_hash == "01" * 32


def test_a_period_is_checked() -> None:
    from datetime import date

    today = date(2026, 12, 5)
    assert period_of({}, today).start == "2026-01-01" and period_of({}, today).end == "2026-12-05"
    assert period_of({"start": "2026-12-31", "end": "2026-01-01"}, today).error
    assert period_of({"start": "31/12/2026"}, today).error == "period: dates as YYYY-MM-DD"


def test_the_recent_jobs_of_both_kinds_are_merged_newest_first() -> None:
    def job(job_id: str, seconds: int, nanos: int = 0) -> jobs_pb.ImportJob:
        made = jobs_pb.ImportJob(job_id=job_id, state=jobs_pb.IMPORT_JOB_STATE_FAILED)
        made.created_at.seconds, made.created_at.nanos = seconds, nanos
        return made

    pages = {"837": [job("c", 300), job("b", 100, 5), job("a", 100)],
             "835": [job("z", 200), job("y", 100, 5), job("x", 50)]}
    merged = newest_first(pages, 5)
    assert [(j.kind, j.job.job_id) for j in merged] == [
        ("837", "c"), ("835", "z"), ("835", "y"), ("837", "b"), ("837", "a")]
    assert merged[0].link == "/console/imports/837/c" and merged[0].state == "failed"
    assert merged[1].started.isoformat() == "1970-01-01T00:03:20"  # UTC, shown as such
    assert newest_first({"837": [], "835": []}, 5) == []
