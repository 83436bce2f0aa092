"""The console suite: the whole stack (every service behind a gateway, as tests/e2e starts it),
people signed in through the console, and a headless Chromium driven by selenium.

Browser tests skip, saying why, when Debian's `chromium` or `chromium-driver` is absent
(`.ci/run` installs both). Selenium is always given the driver's path, so selenium-manager
never downloads anything. Screenshots go to `.oonledger/artifacts/console/` (printed).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from gateway.console.app import Console
from tests.e2e import conftest as e2e
from tests.e2e.conftest import Stack

stack = e2e.stack  # the session's whole stack, started as tests/e2e starts it
channel = e2e.channel  # a gRPC channel to its gateway (API-key set-up steps)
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".oonledger" / "artifacts" / "console"
PASSWORD = "correct horse battery staple"
CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CONSOLE_CHROMEDRIVER", "/usr/bin/chromedriver")


def console_of(stack: Stack) -> Console:
    assert stack.process.console is not None
    return stack.process.console


@dataclass(frozen=True)
class Person:
    login: str
    tenant: str
    roles: tuple[str, ...]
    password: str = PASSWORD

    @property
    def actor(self) -> str:
        return f"user:{self.login}"


async def enrol_person(stack: Stack, tenant: str, *roles: str, name: str = "") -> Person:
    """An invited account whose invitation link was used to set PASSWORD."""
    login = f"{roles[0].replace('_', '-')}-{uuid.uuid4().hex[:6]}@{tenant}.example"
    users = console_of(stack).users
    link = await users.invite(login=login, tenant_id=tenant, roles=roles,
                              display_name=name or login.split("@")[0], now=datetime.now(UTC),
                              invited_by="test")
    assert await users.set_password_with_link(link.token, PASSWORD, datetime.now(UTC))
    return Person(login, tenant, roles)


# -- plain HTTP (the security tests) -------------------------------------------------------

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name), "")

    def cookies_set(self) -> dict[str, str]:
        found = {}
        for k, v in self.headers:
            if k.lower() == "set-cookie":
                pair = v.split(";", 1)[0]
                cookie_name, _, value = pair.partition("=")
                found[cookie_name.strip()] = value.strip()
        return found

    @property
    def csrf(self) -> str:
        match = _CSRF.search(self.body)
        assert match, f"no CSRF field on the page (status {self.status})"
        return match.group(1)


@dataclass
class Visitor:
    """A cookie-keeping HTTP client of the console (no JavaScript, no redirects followed)."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    async def request(self, method: str, path: str, form: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> Reply:
        body = urlencode(form).encode() if form is not None else b""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
                f"Content-Length: {len(body)}"]
        if form is not None:
            head.append("Content-Type: application/x-www-form-urlencoded")
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        try:
            raw = await reader.read()
        finally:
            writer.close()
        top, _, content = raw.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        pairs = [line.partition(":") for line in lines[1:]]
        reply = Reply(int(lines[0].split(" ")[1]), [(k.strip(), v.strip()) for k, _, v in pairs],
                      content.decode("utf-8", "replace"))
        for name, value in reply.cookies_set().items():
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return reply

    async def get(self, path: str) -> Reply:
        return await self.request("GET", path)

    async def post(self, path: str, form: dict[str, str]) -> Reply:
        return await self.request("POST", path, form)

    async def sign_in(self, person: Person, password: str | None = None) -> Reply:
        page = await self.get("/console/sign-in")
        return await self.post("/console/sign-in", {
            "csrf": page.csrf, "login": person.login,
            "password": person.password if password is None else password, "next": ""})


@pytest.fixture
def visitor(stack: Stack) -> Visitor:
    return Visitor(stack.http_port)


# -- the browser ---------------------------------------------------------------------------

def browser_missing() -> str:
    absent = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
    if absent:
        return (f"browser tests skipped: {', '.join(absent)} not found (install Debian's "
                "chromium and chromium-driver; .ci/run does)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "browser tests skipped: selenium is not installed (pip install -e .[dev])"
    return ""


def again_when_replaced(read: Any, attempts: int = 5) -> Any:
    """`read()`, run again when the page replaced an element it had found (chromedriver then
    answers 'stale element reference' or 'does not belong to the document')."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    for attempt in range(attempts):
        try:
            return read()
        except WebDriverException as error:
            replaced = (isinstance(error, StaleElementReferenceException)
                        or "does not belong to the document" in str(error))
            if not replaced or attempt == attempts - 1:
                raise
        time.sleep(0.2)
    raise AssertionError("attempts must be at least 1")


class Browser:
    """Headless Chromium; every WebDriver call runs in a thread, since the stack under test
    answers on this test's event loop."""

    def __init__(self, driver: Any, base: str) -> None:
        self.driver = driver
        self.base = base

    async def run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def open(self, path: str) -> None:
        await self.run(self.driver.get, self.base + path)

    async def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return await self.run(self.driver.find_element, By.CSS_SELECTOR, css)

    async def on_element(self, css: str, action: Any) -> Any:
        """`action(element)` on a fresh look-up of `css`, looked up again when the page had
        replaced the element in between."""
        from selenium.webdriver.common.by import By

        return await self.run(again_when_replaced, lambda: action(
            self.driver.find_element(By.CSS_SELECTOR, css)))

    async def find_all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(await self.run(self.driver.find_elements, By.CSS_SELECTOR, css))

    async def type(self, css: str, text: str) -> None:
        def clear_and_type(element: Any) -> None:
            element.clear()
            element.send_keys(text)

        await self.on_element(css, clear_and_type)

    async def select(self, css: str, visible_text: str) -> None:
        from selenium.webdriver.support.ui import Select

        await self.on_element(css, lambda element: Select(element).select_by_visible_text(
            visible_text))

    async def click(self, css: str) -> None:
        await self.on_element(css, lambda element: element.click())

    async def submit(self, css: str) -> None:
        """Click a button that sends a form and wait for the next page to replace this one."""
        from selenium.webdriver.common.by import By

        def go() -> None:
            mark = self._mark_page()
            self.driver.find_element(By.CSS_SELECTOR, css).click()
            self._wait_for_page_after(mark)

        await self.run(go)

    def _mark_page(self) -> str:
        """Tag the current document, so a later document is known by not carrying the tag."""
        mark = uuid.uuid4().hex
        self.driver.execute_script(
            "document.documentElement.dataset.testPage = arguments[0]", mark)
        return mark

    def _wait_for_page_after(self, mark: str, timeout: float = 60.0) -> None:
        """Wait until a new document has loaded completely. Asked by script rather than by
        the old element's staleness: chromedriver can fail that question with an 'unhandled
        inspector error' while the old document is being torn down."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        def replaced(driver: Any) -> bool:
            try:
                return bool(driver.execute_script(
                    "return document.readyState === 'complete' &&"
                    " document.documentElement.dataset.testPage !== arguments[0]", mark))
            except WebDriverException:  # mid-navigation: ask again
                return False

        WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(replaced)

    async def text(self, css: str = "body") -> str:
        return str(await self.on_element(css, lambda element: element.text))

    async def visible_text(self, css: str) -> str:
        """The text `css` shows now, or "" when nothing on the page matches it."""
        from selenium.webdriver.common.by import By

        def read() -> str:
            elements = self.driver.find_elements(By.CSS_SELECTOR, css)
            return str(elements[0].text) if elements else ""

        return str(await self.run(again_when_replaced, read))

    async def path(self) -> str:
        url = str(await self.run(lambda: self.driver.current_url))
        return url.removeprefix(self.base)

    async def sign_in(self, person: Person) -> None:
        await self.open("/console/sign-in")
        await self.type("#login", person.login)
        await self.type("#password", person.password)
        await self.submit("#sign-in")

    async def reload_until(self, css: str, expected: str, timeout: float = 60.0) -> str:
        """Reload until `css` shows `expected`: read models follow the events a moment later
        (a taken case reaches the work queue's projection after the command answers)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            text = await self.visible_text(css)
            if expected in text or loop.time() > deadline:
                return text
            await asyncio.sleep(0.5)
            await self.run(self.driver.refresh)

    async def submit_confirmed(self, css: str) -> None:
        """`submit` for a button whose page asks `confirm()` first (approve): say OK."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        def go() -> None:
            mark = self._mark_page()
            self.driver.find_element(By.CSS_SELECTOR, css).click()
            WebDriverWait(self.driver, 10).until(expected_conditions.alert_is_present())
            self.driver.switch_to.alert.accept()
            self._wait_for_page_after(mark)

        await self.run(go)

    async def sign_out(self) -> None:
        await self.submit("form[action='/console/sign-out'] button")

    async def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        target = ARTIFACTS / f"{name}.png"

        def whole_page() -> None:  # the window as tall as the page, then back
            height = int(self.driver.execute_script(
                "return document.documentElement.scrollHeight"))
            self.driver.set_window_size(1366, max(900, min(height + 20, 4000)))
            try:
                self.driver.save_screenshot(str(target))
            finally:
                self.driver.set_window_size(1366, 900)

        await self.run(whole_page)
        print(f"screenshot: {target}")
        return target


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must never fetch a driver or browser
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1366,900", "--no-first-run", "--disable-extensions",
                 "--disable-background-networking"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def browser(chromium: Any, stack: Stack) -> AsyncIterator[Browser]:
    await asyncio.to_thread(chromium.delete_all_cookies)
    yield Browser(chromium, f"http://127.0.0.1:{stack.http_port}")
