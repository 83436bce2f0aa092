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


async def test_signing_in_and_moving_around_with_the_keyboard_only(
        stack: Stack, browser: Browser) -> None:
    from selenium.webdriver.common.keys import Keys

    person = await enrol_person(stack, f"vendor-{uuid.uuid4().hex[:8]}", "negotiator")
    await browser.open("/console/sign-in")

    def keys(*sequence: str) -> None:
        browser.driver.switch_to.active_element.send_keys(*sequence)

    def focused() -> str:
        element = browser.driver.switch_to.active_element
        return f"{element.tag_name}#{element.get_attribute('id')}:{element.text}"

    assert (await browser.run(focused)).startswith("input#login")  # focus starts in the form
    await browser.run(keys, person.login, Keys.TAB)
    assert (await browser.run(focused)).startswith("input#password")
    await browser.run(keys, person.password, Keys.ENTER)
    assert await browser.reload_until("h1", "Work queue") == "Work queue"
    await browser.run(keys, Keys.TAB)
    assert "Skip to content" in await browser.run(focused)  # first stop: skip the menu
    await browser.run(keys, Keys.TAB)
    assert "Work queue" in await browser.run(focused)  # then the menu
