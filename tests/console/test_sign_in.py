"""Signing in and out in a real browser (headless Chromium)."""

from __future__ import annotations

import uuid

from tests.console.conftest import Browser, enrol_person
from tests.e2e.conftest import Stack


async def test_a_person_signs_in_lands_on_their_page_and_signs_out(
        stack: Stack, browser: Browser) -> None:
    person = await enrol_person(stack, f"vendor-{uuid.uuid4().hex[:8]}", "negotiator",
                                name="Nia Negotiator")
    await browser.open("/")
    assert (await browser.path()).startswith("/console/sign-in")
    await browser.screenshot("sign-in")
    await browser.type("#login", person.login)
    await browser.type("#password", "not the password at all")
    await browser.submit("#sign-in")
    assert "Wrong login or password" in await browser.text("#signin-error")
    await browser.sign_in(person)
    assert await browser.path() == "/console/queue"
    assert "Nia Negotiator" in await browser.text("header")
    await browser.sign_out()
    assert (await browser.path()).startswith("/console/sign-in")
    await browser.open("/console/queue")
    assert (await browser.path()).startswith("/console/sign-in")


async def test_an_admin_invites_a_person_who_chooses_a_password_and_signs_in(
        stack: Stack, browser: Browser) -> None:
    tenant = f"vendor-{uuid.uuid4().hex[:8]}"
    boss = await enrol_person(stack, tenant, "admin", name="Ada Admin")
    await browser.sign_in(boss)
    await browser.open("/console/admin/users")
    await browser.type("#invite-login", f"fin@{tenant}.example")
    await browser.type("#invite-name", "Fin Finance")
    await browser.click("input[name='role_finance']")
    await browser.submit("form[action='/console/admin/users/invite'] button")
    link = (await browser.text("code.link-path")).strip()
    assert link.startswith("/console/welcome?token=")
    await browser.screenshot("people")
    await browser.sign_out()
    await browser.open(link)
    assert "fin@" in await browser.text("main")
    await browser.type("#password", "a long enough passphrase")
    await browser.type("#confirm", "a long enough passphrase")
    await browser.submit("form[action='/console/welcome'] button")
    assert (await browser.path()).startswith("/console/sign-in")
    await browser.type("#login", f"fin@{tenant}.example")
    await browser.type("#password", "a long enough passphrase")
    await browser.submit("#sign-in")
    assert "Fin Finance" in await browser.text("header")
