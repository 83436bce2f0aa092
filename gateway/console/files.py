"""Files in and out of the console: a multipart/form-data upload (an 837 or 835 chosen in the
browser) parsed with python-multipart, and a download answered as an attachment (CSV, PDF, a
JSON bundle) with the console's security headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.console import web
from gateway.http_server import Request, Response

MULTIPART = "multipart/form-data"
MAX_TEXT_FIELD = 64 * 1024  # a text field of a form; the file itself is bounded by the server


@dataclass
class Upload:
    name: str  # the form field
    file_name: str  # as the browser named it (shown back, never used as a path)
    content_type: str
    data: bytes


@dataclass
class MultipartForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == MULTIPART


def parse_multipart(request: Request) -> MultipartForm:
    """The text fields and files of a multipart/form-data body; an empty form when the body is
    not one (a malformed body then fails the CSRF check like any form without its token)."""
    form = MultipartForm()
    if not is_multipart(request):
        return form
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary", b"")
    if not boundary:
        return form
    parts: list[tuple[dict[str, str], bytearray]] = []
    header_name = bytearray()
    header_value = bytearray()

    def on_part_begin() -> None:
        parts.append(({}, bytearray()))

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1][0][header_name.decode("latin-1").lower()] = header_value.decode("utf-8",
                                                                                  "replace")
        header_name.clear()
        header_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1][1].extend(data[start:end])

    parser = MultipartParser(boundary, {  # type: ignore[arg-type]
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_part_data": on_part_data})
    try:
        parser.write(request.body)
        parser.finalize()
    except MultipartParseError:
        return MultipartForm()
    for headers, data in parts:
        _, disposition = parse_options_header(headers.get("content-disposition", ""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            continue
        if b"filename" in disposition:
            form.files[name] = Upload(
                name, disposition[b"filename"].decode("utf-8", "replace"),
                headers.get("content-type", "application/octet-stream"), bytes(data))
        elif len(data) <= MAX_TEXT_FIELD:
            form.fields[name] = data.decode("utf-8", "replace")
    return form


def download(body: bytes, content_type: str, file_name: str, inline: bool = False,
             headers: list[tuple[str, str]] | None = None) -> Response:
    """An attachment (or, `inline`, shown by the browser: a PDF to print)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in file_name) or "download"
    disposition = f"{'inline' if inline else 'attachment'}; filename=\"{safe}\"; " \
                  f"filename*=UTF-8''{quote(safe)}"
    return Response(200, body, content_type,
                    [*web.SECURITY_HEADERS, ("Content-Disposition", disposition),
                     *(headers or [])])
