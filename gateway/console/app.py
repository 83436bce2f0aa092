"""The console's request handling: routes, the session behind the cookie, the role a page
needs, CSRF on every form, templates (jinja2, autoescaped) and the console's static files.

A page is a function `async def view(page: Page) -> Response` registered on a `Router` with
the roles that may use it (views/*.py); everything else here is shared by every page.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jinja2

from gateway.console import web
from gateway.console.client import ServiceClient, new_request_id
from gateway.console.throttle import LoginThrottle
from gateway.console.users import Session, User, UserStore
from gateway.forwarding import Gateway
from gateway.http_server import Request, Response
from gateway.statuses import CallFailure
from services.common.auth import ROLES

log = logging.getLogger(__name__)

SESSION_COOKIE = "oon_session"
PRE_COOKIE = "oon_pre"  # an anonymous visitor's CSRF seed (sign-in and welcome forms)
SIGNED_IN = frozenset(ROLES)  # a page any signed-in person may use
_STATIC = {"console.css": "text/css; charset=utf-8",
           "console.js": "text/javascript; charset=utf-8",
           "pages.css": "text/css; charset=utf-8", "imports.js": "text/javascript; charset=utf-8"}

View = Callable[["Page"], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    roles: frozenset[str] | None  # None: also anonymous visitors
    view: View


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, path: str, roles: Iterable[str] | None, view: View) -> None:
        """`path` may hold `{name}` parts (one path segment each)."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[A-Za-z0-9._:\-]{1,200})", path)
        self.routes.append(Route(method, re.compile(regex + r"\Z"),
                                 None if roles is None else frozenset(roles), view))

    def get(self, path: str, roles: Iterable[str] | None) -> Callable[[View], View]:
        def register(view: View) -> View:
            self.add("GET", path, roles, view)
            return view
        return register

    def post(self, path: str, roles: Iterable[str] | None) -> Callable[[View], View]:
        def register(view: View) -> View:
            self.add("POST", path, roles, view)
            return view
        return register

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path parameters, whether the path exists with another method)."""
        other_method = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, found.groupdict(), False
            other_method = True
        return None, {}, other_method


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    roles: frozenset[str]


@dataclass(frozen=True)
class ConsoleSettings:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    secure_cookies: bool = False  # True when the gateway serves TLS


@dataclass
class Page:
    """One request to a page: what the view reads, and how it answers."""

    console: Console
    request: Request
    params: dict[str, str]
    query: dict[str, str]
    form: dict[str, str]
    session: Session | None
    session_id: str
    csrf: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def user(self) -> User:
        assert self.session is not None, "a signed-in page"
        return self.session.user

    @property
    def client(self) -> ServiceClient:
        return ServiceClient(self.console.gateway, self.user)

    @property
    def now(self) -> datetime:
        return self.console.clock()

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        user = self.session.user if self.session else None
        nav = [item for item in self.console.nav
               if user is not None and item.roles & user.roles]
        body = self.console.templates.get_template(template).render(
            user=user, nav=nav, csrf=self.csrf, path=self.request.path,
            new_request_id=new_request_id, **context)
        return web.html(status, body, self.headers)

    def redirect(self, location: str) -> Response:
        return web.redirect(location, self.headers)

    def failed(self, refused: CallFailure, template: str = "error.html") -> Response:
        title = {"NOT_FOUND": "Not found", "PERMISSION_DENIED": "Not allowed",
                 "UNAVAILABLE": "Try again shortly"}.get(refused.code.name, "Refused")
        return self.render(template, refused.http_status, title=title,
                           message=f"{refused.code.name}: {refused.message}")


class Console:
    def __init__(self, gateway: Gateway, users: UserStore, csrf_key: bytes,
                 clock: Callable[[], datetime], settings: ConsoleSettings = ConsoleSettings(),
                 throttle: LoginThrottle | None = None) -> None:
        self.gateway = gateway
        self.users = users
        self.clock = clock
        self.settings = settings
        self.throttle = throttle or LoginThrottle()
        self._csrf_key = hmac.new(csrf_key, b"oonledger console csrf", hashlib.sha256).digest()
        self.router = Router()
        self.nav: list[NavItem] = []
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("gateway.console", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
            lstrip_blocks=True)
        self.templates.filters["money"] = money
        from gateway.console import views  # the pages register themselves on this console

        views.install(self)

    def add_nav(self, label: str, href: str, roles: Iterable[str]) -> None:
        self.nav.append(NavItem(label, href, frozenset(roles)))

    async def migrate(self) -> None:
        await self.users.migrate()

    def mount(self, api: Callable[[Request], Awaitable[Response]]
              ) -> Callable[[Request], Awaitable[Response]]:
        """The gateway's HTTP handler: `/` and `/console/...` here, the JSON API otherwise."""

        async def handle(request: Request) -> Response:
            if request.path in ("/", "/console"):
                return web.redirect("/console/")
            if request.path == "/console" or request.path.startswith("/console/"):
                return await self.handle(request)
            return await api(request)

        return handle

    async def handle(self, request: Request) -> Response:
        if request.path.startswith("/console/static/"):
            return self._static(request.path.removeprefix("/console/static/"))
        route, params, other_method = self.router.match(request.method, request.path)
        jar = web.cookies(request)
        session_id = jar.get(SESSION_COOKIE, "")
        session = None
        if session_id:
            session = await self.users.session(session_id, self.clock(), self.settings.idle,
                                               self.settings.absolute)
        page = Page(self, request, params, web.query_params(request), web.form_params(request),
                    session, session_id if session else "", "")
        if session is None and session_id:  # an unknown or expired id: drop the cookie
            page.headers.append(web.clear_cookie(SESSION_COOKIE, secure=self.secure))
        page.csrf = session.csrf_token if session else self._anonymous_csrf(jar, page)
        if route is None:
            status = 405 if other_method else 404
            return page.render("error.html", status, title=web_title(status),
                               message=f"{request.method} {request.path}: {web_title(status)}")
        if route.roles is not None:
            if session is None:
                if request.method == "GET":
                    return page.redirect(web.with_query("/console/sign-in", next=request.path,
                                                        expired="1" if session_id else ""))
                return page.render("error.html", 401, title="Signed out",
                                   message="Your session has ended; sign in again.")
            if not route.roles & session.user.roles:
                log.warning("console: %s (roles %s) refused %s %s", session.user.actor,
                            ",".join(sorted(session.user.roles)), request.method, request.path)
                return page.render("error.html", 403, title="Not for your role",
                                   message="This page needs one of the roles: "
                                   + ", ".join(sorted(route.roles)))
        if request.method == "POST" and not self._csrf_ok(request, page):
            log.warning("console: CSRF check failed on POST %s", request.path)
            return page.render("error.html", 403, title="Form refused",
                               message="This form is stale or was not sent from the console "
                               "(CSRF check failed). Reload the page and try again.")
        try:
            return await route.view(page)
        except CallFailure as refused:
            return page.failed(refused)

    @property
    def secure(self) -> bool:
        return self.settings.secure_cookies

    def _anonymous_csrf(self, jar: dict[str, str], page: Page) -> str:
        seed = jar.get(PRE_COOKIE, "")
        if len(seed) < 32:
            seed = secrets.token_urlsafe(32)
            page.headers.append(web.set_cookie(PRE_COOKIE, seed, secure=self.secure))
        return hmac.new(self._csrf_key, seed.encode(), hashlib.sha256).hexdigest()

    def _csrf_ok(self, request: Request, page: Page) -> bool:
        origin = request.headers.get("origin", "")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get(
                "host", ""):
            return False
        sent = page.form.get("csrf", "")
        return bool(sent) and hmac.compare_digest(sent, page.csrf)

    def _static(self, name: str) -> Response:
        if name not in _STATIC:
            return web.html(404, "not found")
        body = resources.files("gateway.console").joinpath("static", name).read_bytes()
        return Response(200, body, _STATIC[name], [("X-Content-Type-Options", "nosniff"),
                                                   ("Cache-Control", "max-age=300")])


def money(cents: int) -> str:
    """Integer cents as dollars for display: 123456 -> "$1,234.56"."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}${whole:,}.{part:02d}"


def web_title(status: int) -> str:
    return {404: "Not found", 405: "Method not allowed"}.get(status, "Error")
