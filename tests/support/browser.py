"""A headless Chromium (Debian's) driven over the DevTools protocol, and OCR of what it shows.

The TUI in a browser is drawn on a canvas (xterm.js): the page has no text to query, so a
test reads the screenshot with tesseract, as a person would read the screen.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.engines import free_port


def require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        pytest.fail(f"{tool} is missing: the test command installs it (scripts/test.sh)")
    return found


def ocr(png: Path) -> str:
    done = subprocess.run(
        [require("tesseract"), str(png), "-"], capture_output=True, text=True, timeout=60
    )
    return done.stdout


def screenshot_until(
    url: str,
    shows: Callable[[str], bool],
    out: Path,
    limit: float = 90.0,
    size: tuple[int, int] = (1280, 800),
) -> str:
    """Open ``url`` in headless Chromium; screenshot it until the OCR'd text ``shows`` what
    is expected; return that text (the last screenshot stays at ``out``)."""
    port = free_port()
    profile = tempfile.mkdtemp(prefix="kgop-chromium-")
    browser = subprocess.Popen(
        [require("chromium"), "--headless=new", "--no-sandbox", "--disable-gpu",
         "--hide-scrollbars", f"--window-size={size[0]},{size[1]}",
         f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        return asyncio.run(_drive(port, url, shows, out, time.monotonic() + limit))
    finally:
        browser.kill()
        browser.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


async def _drive(
    port: int, url: str, shows: Callable[[str], bool], out: Path, deadline: float
) -> str:
    text = ""
    async with aiohttp.ClientSession() as http:
        targets: list[dict[str, Any]] = []
        while not targets:
            try:
                reply = await http.get(f"http://127.0.0.1:{port}/json/list")
                targets = [t for t in await reply.json() if t.get("type") == "page"]
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    pytest.fail("Chromium's DevTools endpoint never answered")
                await asyncio.sleep(0.1)
        async with http.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            calls = 0

            async def call(method: str, **params: Any) -> dict[str, Any]:
                nonlocal calls
                calls += 1
                await ws.send_json({"id": calls, "method": method, "params": params})
                async for message in ws:
                    reply = json.loads(message.data)
                    if reply.get("id") == calls:
                        return dict(reply.get("result") or {})  # {} on an error reply
                raise AssertionError("Chromium closed the DevTools connection")

            await call("Page.navigate", url=url)
            while True:
                shot = await call("Page.captureScreenshot", format="png")
                if "data" in shot:  # none while the page is still loading
                    await asyncio.to_thread(out.write_bytes, base64.b64decode(shot["data"]))
                    text = await asyncio.to_thread(ocr, out)
                    if shows(text):
                        return text
                if time.monotonic() > deadline:
                    pytest.fail(f"the page never showed what was expected; it read:\n{text}")
                await asyncio.sleep(0.5)
