"""Accounts: invited from the CLI or the admin's page, a one-time link to choose a password,
a reset that ends the person's sessions; an admin manages their own tenant only."""

from __future__ import annotations

import io
import re
import uuid

from gateway import admin
from tests.console.conftest import PASSWORD, Person, Visitor, enrol_person
from tests.e2e.conftest import Stack

_LINK = re.compile(r"(/console/welcome\?token=[A-Za-z0-9_\-]+)")


async def cli(environ: dict[str, str], *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await admin.run(list(argv), environ, out=out)
    return code, out.getvalue()


async def choose_password(visitor: Visitor, link: str, password: str) -> int:
    page = await visitor.get(link)
    assert page.status == 200, page.body[:300]
    token = link.split("token=")[1]
    reply = await visitor.post("/console/welcome", {
        "csrf": page.csrf, "token": token, "password": password, "confirm": password})
    return reply.status


async def test_invite_and_reset_from_the_command_line(
        stack: Stack, infra_urls, namespace) -> None:  # type: ignore[no-untyped-def]
    environ = {"DATABASE_URL": infra_urls.database_url, "OON_NAMESPACE": namespace}
    tenant = f"cli-{uuid.uuid4().hex[:8]}"
    login = f"nia@{tenant}.example"
    code, out = await cli(environ, "invite-user", "--tenant", tenant, "--login", login,
                          "--roles", "negotiator", "--name", "Nia")
    assert code == 0, out
    link = _LINK.search(out).group(1)  # type: ignore[union-attr]
    visitor = Visitor(stack.http_port)
    assert await choose_password(visitor, link, "short") == 400  # 12 characters at least
    assert await choose_password(visitor, link, PASSWORD) == 303
    assert (await visitor.get(link)).status == 404  # used once
    person = Person(login, tenant, ("negotiator",))
    assert (await visitor.sign_in(person)).status == 303
    assert (await visitor.get("/console/account")).status == 200
    code, listing = await cli(environ, "list-users", "--tenant", tenant)
    assert code == 0 and login in listing and "active" in listing

    code, out = await cli(environ, "reset-password", "--login", login)
    assert code == 0
    assert (await visitor.get("/console/account")).status == 303  # the session ended
    new_password = "a different long passphrase"
    assert await choose_password(Visitor(stack.http_port), _LINK.search(out).group(1),  # type: ignore[union-attr]
                                 new_password) == 303
    assert (await Visitor(stack.http_port).sign_in(person)).status == 401
    assert (await Visitor(stack.http_port).sign_in(person, new_password)).status == 303

    assert (await cli(environ, "invite-user", "--tenant", tenant, "--login", login,
                      "--roles", "negotiator"))[0] == 2  # exists already
    assert (await cli(environ, "invite-user", "--tenant", tenant, "--login", "x@y.example",
                      "--roles", "root"))[0] == 2
    assert (await cli(environ, "reset-password", "--login", "nobody@nowhere.example"))[0] == 1


async def test_an_admin_invites_and_resets_on_the_people_page(stack: Stack) -> None:
    tenant = f"vendor-{uuid.uuid4().hex[:8]}"
    boss = await enrol_person(stack, tenant, "admin")
    outsider = await enrol_person(stack, f"other-{tenant}", "negotiator")
    visitor = Visitor(stack.http_port)
    await visitor.sign_in(boss)
    people = await visitor.get("/console/admin/users")
    assert people.status == 200 and boss.login in people.body
    assert outsider.login not in people.body  # only the admin's own tenant
    login = f"pat@{tenant}.example"
    invited = await visitor.post("/console/admin/users/invite", {
        "csrf": people.csrf, "login": login, "name": "Pat", "role_provider_approver": "1"})
    assert invited.status == 200, invited.body[:500]
    link = _LINK.search(invited.body).group(1)  # type: ignore[union-attr]
    assert await choose_password(Visitor(stack.http_port), link, PASSWORD) == 303
    pat = Person(login, tenant, ("provider_approver",))
    pat_browser = Visitor(stack.http_port)
    signed_in = await pat_browser.sign_in(pat)
    assert signed_in.status == 303
    assert (await pat_browser.get("/console/")).header("location") == "/console/approvals"

    refused = await visitor.post("/console/admin/users/invite", {
        "csrf": people.csrf, "login": "not an e-mail", "role_negotiator": "1"})
    assert refused.status == 400 and "login must be an e-mail" in refused.body
    # Another tenant's person cannot be reset from here.
    other = await visitor.post("/console/admin/users/reset", {
        "csrf": people.csrf, "login": outsider.login})
    assert other.status == 404
    reset = await visitor.post("/console/admin/users/reset", {
        "csrf": people.csrf, "login": login})
    assert reset.status == 200 and _LINK.search(reset.body)
    assert (await pat_browser.get("/console/approvals")).status == 303  # signed out
