"""Helpers of the imports, finance and audit page tests: waiting on what the page's own script
changes, a multipart upload over plain HTTP, and files saved for the browser to upload."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from tests.console.conftest import Browser, Reply, Visitor


async def wait_for_text(browser: Browser, css: str, expected: str, timeout: float = 180.0
                        ) -> str:
    """Wait, without reloading, until `css` shows `expected` (the page's script updates it, or
    reloads the page itself); the text it last showed."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    seen = [""]

    def shows(driver: object) -> bool:
        try:
            elements = browser.driver.find_elements(By.CSS_SELECTOR, css)
            seen[0] = elements[0].text if elements else ""
        except (StaleElementReferenceException, WebDriverException):
            return False
        return expected in seen[0]

    def wait() -> None:
        WebDriverWait(browser.driver, timeout, poll_frequency=0.3).until(shows)

    await asyncio.to_thread(wait)
    return seen[0]


async def upload_file(browser: Browser, path: Path) -> None:
    element = await browser.find("#file")
    await browser.run(element.send_keys, str(path))


async def post_multipart(visitor: Visitor, path: str, fields: dict[str, str],
                         file_field: str, file_name: str, content: bytes) -> Reply:
    """A browser's multipart/form-data POST, with the visitor's cookies."""
    boundary = f"----oonledger{uuid.uuid4().hex}"
    body = bytearray()
    for name, value in fields.items():
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                 f"{value}\r\n").encode()
    body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; "
             f"filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
             ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", visitor.port)
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
            f"Content-Length: {len(body)}",
            f"Content-Type: multipart/form-data; boundary={boundary}"]
    if visitor.cookies:
        head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in visitor.cookies.items()))
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + bytes(body))
    await writer.drain()
    try:
        raw = await reader.read()
    finally:
        writer.close()
    top, _, content_back = raw.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    pairs = [line.partition(":") for line in lines[1:]]
    return Reply(int(lines[0].split(" ")[1]), [(k.strip(), v.strip()) for k, _, v in pairs],
                 content_back.decode("utf-8", "replace"))
