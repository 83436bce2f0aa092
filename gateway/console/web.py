"""HTTP helpers of the console: forms, cookies, query strings, responses with security headers."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, quote, urlencode

from gateway.http_server import Request, Response

HTML = "text/html; charset=utf-8"
# No inline script or style anywhere: the console's own files only (no CDN).
SECURITY_HEADERS = (
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
)


def html(status: int, body: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, body.encode(), HTML, [*SECURITY_HEADERS, *(headers or [])])


def redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """303 See Other: after a form, the browser GETs the page (no re-POST on reload)."""
    return Response(303, b"", HTML, [*SECURITY_HEADERS, ("Location", location),
                                     *(headers or [])])


def query_params(request: Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()}


def form_params(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":  # a file upload's text fields (console/files.py)
        from gateway.console.files import parse_multipart

        return parse_multipart(request).fields
    if content_type != "application/x-www-form-urlencoded":
        return {}
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def cookies(request: Request) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(request.headers.get("cookie", ""))
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def set_cookie(name: str, value: str, *, secure: bool, max_age: int | None = None,
               same_site: str = "Strict") -> tuple[str, str]:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", f"SameSite={same_site}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return ("Set-Cookie", "; ".join(parts))


def clear_cookie(name: str, *, secure: bool) -> tuple[str, str]:
    return set_cookie(name, "", secure=secure, max_age=0)


def with_query(path: str, **params: str) -> str:
    kept = {k: v for k, v in params.items() if v}
    return f"{quote(path)}?{urlencode(kept)}" if kept else quote(path)
