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
