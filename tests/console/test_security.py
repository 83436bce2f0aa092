"""The console's defences, over plain HTTP: CSRF, session fixation, a page a role may not use,
an expired session, and a password guesser (rate-limited and logged)."""

from __future__ import annotations

import logging
import uuid

import pytest

from tests.console.conftest import PASSWORD, Visitor, console_of, enrol_person
from tests.e2e.conftest import Stack


def tenant() -> str:
    return f"vendor-{uuid.uuid4().hex[:8]}"


async def test_sign_in_gives_a_new_session_id_whatever_cookie_came_before(
        stack: Stack, visitor: Visitor) -> None:
    person = await enrol_person(stack, tenant(), "negotiator")
    planted = "attacker-chosen-session-id-0123456789abcdef"
    visitor.cookies["oon_session"] = planted
    signed_in = await visitor.sign_in(person)
    assert signed_in.status == 303, signed_in.body[:300]
    issued = signed_in.cookies_set()["oon_session"]
    assert issued and issued != planted
    cookie = next(v for k, v in signed_in.headers
                  if k.lower() == "set-cookie" and v.startswith("oon_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert (await visitor.get("/console/account")).status == 200
    # The planted id never became a session.
    attacker = Visitor(stack.http_port, {"oon_session": planted})
    assert (await attacker.get("/console/account")).status == 303
    # Signing in again (same browser) rotates the id too, and the old one is dead.
    again = await visitor.sign_in(person)
    assert again.cookies_set()["oon_session"] not in (issued, planted)
    assert (await Visitor(stack.http_port, {"oon_session": issued}).get(
        "/console/account")).status == 303


async def test_a_form_without_the_session_csrf_token_is_refused(
        stack: Stack, visitor: Visitor) -> None:
    person = await enrol_person(stack, tenant(), "negotiator")
    await visitor.sign_in(person)
    queue = await visitor.get("/console/queue")
    assert queue.status == 200, queue.body[:300]
    take = "/console/queue/does-not-matter/take"
    for form in ({}, {"csrf": "forged"}, {"csrf": queue.csrf + "x"}):
        refused = await visitor.post(take, form)
        assert refused.status == 403 and "CSRF" in refused.body
    # The right token from another site's page is refused by its Origin.
    cross = await visitor.request("POST", take, {"csrf": queue.csrf},
                                  {"Origin": "https://evil.example"})
    assert cross.status == 403
    # Signing out is a form too: a bare POST does not end the session.
    assert (await visitor.post("/console/sign-out", {})).status == 403
    assert (await visitor.get("/console/account")).status == 200
    # The sign-in form itself needs the token of the visitor's own pre-session cookie.
    stranger = Visitor(stack.http_port)
    forged = await stranger.post("/console/sign-in", {
        "csrf": queue.csrf, "login": person.login, "password": PASSWORD})
    assert forged.status == 403


async def test_a_role_cannot_reach_a_page_it_may_not_use(stack: Stack, visitor: Visitor) -> None:
    approver = await enrol_person(stack, tenant(), "provider_approver")
    await visitor.sign_in(approver)
    assert (await visitor.get("/console/queue")).status == 403
    assert (await visitor.get("/console/admin/users")).status == 403
    assert (await visitor.get("/console/approvals")).status == 200


async def test_an_idle_or_too_old_session_is_over(stack: Stack, visitor: Visitor) -> None:
    person = await enrol_person(stack, tenant(), "negotiator")
    await visitor.sign_in(person)
    assert (await visitor.get("/console/account")).status == 200
    users = console_of(stack).users
    await users.pool.execute(
        f"UPDATE {users.sessions} SET last_seen_at = last_seen_at - interval '31 minutes' "
        "WHERE user_id = $1", person.login)
    expired = await visitor.get("/console/account")
    assert expired.status == 303
    assert expired.header("location").startswith("/console/sign-in?next=%2Fconsole%2Faccount")
    assert "expired=1" in expired.header("location")
    assert "oon_session" not in visitor.cookies  # the cookie is cleared
    # Absolute expiry: active all along, but signed in 13 hours ago.
    await visitor.sign_in(person)
    await users.pool.execute(
        f"UPDATE {users.sessions} SET created_at = created_at - interval '13 hours' "
        "WHERE user_id = $1", person.login)
    assert (await visitor.get("/console/account")).status == 303
    count = await users.pool.fetchval(
        f"SELECT count(*) FROM {users.sessions} WHERE user_id = $1", person.login)
    assert count == 0
    # Sessions left idle (never visited again) are deleted at the next sign-in of anyone.
    await visitor.sign_in(person)
    await users.pool.execute(
        f"UPDATE {users.sessions} SET last_seen_at = last_seen_at - interval '2 hours' "
        "WHERE user_id = $1", person.login)
    other = await enrol_person(stack, person.tenant, "negotiator")
    await Visitor(stack.http_port).sign_in(other)
    assert await users.pool.fetchval(
        f"SELECT count(*) FROM {users.sessions} WHERE user_id = $1", person.login) == 0


# Every test signs in from 127.0.0.1: the suite as a whole must stay under the per-address
# limit (20 failed sign-ins in 15 minutes); this test spends 5 of them.
async def test_password_guessing_is_rate_limited_and_logged(
        stack: Stack, visitor: Visitor, caplog: pytest.LogCaptureFixture) -> None:
    person = await enrol_person(stack, tenant(), "negotiator")
    limit = console_of(stack).throttle.limits.per_account
    caplog.set_level(logging.INFO, logger="gateway.console.signin")
    for attempt in range(limit):
        wrong = await visitor.sign_in(person, password=f"guess-{attempt}-xxxxxxxx")
        assert wrong.status == 401, wrong.body[:200]
    locked = await visitor.sign_in(person)  # even the right password, while locked
    assert locked.status == 429 and "Too many failed attempts" in locked.body
    assert "oon_session" not in locked.cookies_set()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(person.login in r.getMessage() and "locked" in r.getMessage() for r in warnings)
    assert any("rate limit" in r.getMessage() for r in warnings)
    # Another account from the same address still signs in (the per-address limit is higher).
    other = await enrol_person(stack, person.tenant, "negotiator")
    assert (await Visitor(stack.http_port).sign_in(other)).status == 303
