"""Sign in, sign out, the invitation/reset link that sets a password, and the landing page."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from gateway.console import web
from gateway.console.app import PRE_COOKIE, SESSION_COOKIE, SIGNED_IN, Page
from gateway.console.users import check_password
from gateway.http_server import Response

if TYPE_CHECKING:
    from gateway.console.app import Console

log = logging.getLogger("gateway.console.signin")

# Where each role starts (the first of the person's roles in this order that has a page).
HOMES = (
    ("negotiator", "/console/queue"),
    ("admin", "/console/queue"),
    ("supervisor", "/console/queue"),
    ("manager", "/console/queue"),
    ("provider_approver", "/console/approvals"),
    ("finance", "/console/finance"),
    ("auditor", "/console/audit"),
)


def home_of(page: Page) -> str:
    for role, href in HOMES:
        if role in page.user.roles and any(
                r.pattern.match(href) for r in page.console.router.routes):
            return href
    return "/console/account"


def safe_next(target: str) -> str:
    """Only a console path of this site (never `//host` or a scheme)."""
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


def register(console: Console) -> None:
    router = console.router

    @router.get("/console/", SIGNED_IN)
    async def landing(page: Page) -> Response:
        return page.redirect(home_of(page))

    @router.get("/console/sign-in", None)
    async def sign_in_form(page: Page) -> Response:
        notice = "Your session ended; sign in again." if page.query.get("expired") else ""
        if page.session is not None:
            notice = (f"You are signed in as {page.user.user_id}; signing in again ends that "
                      "session.")
        return page.render("signin.html", title="Sign in", login="", error="", notice=notice,
                           next=safe_next(page.query.get("next", "")))

    @router.post("/console/sign-in", None)
    async def sign_in(page: Page) -> Response:
        login = page.form.get("login", "").strip().lower()[:200]
        password = page.form.get("password", "")
        target = safe_next(page.form.get("next", ""))
        address = page.request.peer or "unknown"
        wait = console.throttle.retry_after(login, address)
        if wait > 0:
            log.warning("console sign-in refused (rate limit): account %s, address %s",
                        login, address)
            return page.render(
                "signin.html", 429, title="Sign in", login=login, next=target, notice="",
                error=f"Too many failed attempts. Try again in {int(wait // 60) + 1} minutes.")
        user = await console.users.verify(login, password)
        if user is None:
            console.throttle.failed(login, address)
            log.info("console sign-in failed: account %s, address %s", login, address)
            return page.render("signin.html", 401, title="Sign in", login=login, next=target,
                               notice="", error="Wrong login or password.")
        console.throttle.succeeded(login)
        if page.session_id:
            await console.users.end_session(page.session_id)
        await console.users.forget_expired(page.now, console.settings.idle,
                                           console.settings.absolute)
        # A new id at every sign-in, whatever cookie the browser brought (no fixation).
        session_id, _csrf = await console.users.open_session(user, page.now)
        log.info("console sign-in: %s (tenant %s) from %s", user.actor, user.tenant_id, address)
        page.headers[:] = [
            web.set_cookie(SESSION_COOKIE, session_id, secure=console.secure),
            web.clear_cookie(PRE_COOKIE, secure=console.secure)]
        return page.redirect(target or "/console/")

    @router.post("/console/sign-out", SIGNED_IN)
    async def sign_out(page: Page) -> Response:
        await console.users.end_session(page.session_id)
        page.headers.append(web.clear_cookie(SESSION_COOKIE, secure=console.secure))
        return page.redirect("/console/sign-in")

    @router.get("/console/welcome", None)
    async def welcome_form(page: Page) -> Response:
        token = page.query.get("token", "")
        user = await console.users.link_user(token, page.now) if token else None
        if user is None:
            return page.render("error.html", 404, title="Link not valid",
                               message="This link is unknown, used or expired. Ask your "
                               "administrator for a new one.")
        return page.render("welcome.html", title="Choose a password", invited=user,
                           token=token, error="")

    @router.post("/console/welcome", None)
    async def welcome(page: Page) -> Response:
        token, password = page.form.get("token", ""), page.form.get("password", "")
        invited = await console.users.link_user(token, page.now) if token else None
        if invited is None:
            return page.render("error.html", 404, title="Link not valid",
                               message="This link is unknown, used or expired.")
        problem = check_password(password)
        if problem is None and password != page.form.get("confirm", ""):
            problem = "the two passwords differ"
        if problem is not None:
            return page.render("welcome.html", 400, title="Choose a password", invited=invited,
                               token=token, error=problem)
        user = await console.users.set_password_with_link(token, password, page.now)
        if user is None:
            return page.render("error.html", 404, title="Link not valid",
                               message="This link is unknown, used or expired.")
        log.info("console: %s set a password", user.actor)
        return page.redirect("/console/sign-in?next=")

    @router.get("/console/account", SIGNED_IN)
    async def account(page: Page) -> Response:
        return page.render("account.html", title="Your account")
