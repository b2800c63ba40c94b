"""A running ``kgop serve`` (or ``./operator.sh serve``) and the login URL it prints."""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
from pathlib import Path

import aiohttp

from tests.support.engines import wait_for

TOKEN_URL = re.compile(r"(https?://\S+)/\?token=([A-Za-z0-9_-]+)")


class Output:
    """The merged output of a process, read by a thread so the test never blocks on it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.lines: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: object) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            self.lines.append(raw.decode(errors="replace"))

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def login(self, timeout: float = 120) -> tuple[str, str]:
        """(the public URL, the token) from the line kgop serve prints when it starts."""
        wait_for(
            lambda: TOKEN_URL.search(self.text) is not None or self.process.poll() is not None,
            timeout,
            "kgop serve to print its URL",
        )
        found = TOKEN_URL.search(self.text)
        assert found is not None, self.text
        return found.group(1), found.group(2)

    def finish(self, timeout: float = 60) -> str:
        """Wait for the process to end (after it was told to); all it printed."""
        self.process.wait(timeout=timeout)
        self._thread.join(timeout=timeout)
        return self.text


def children(pid: int) -> list[int]:
    """The processes ``pid`` has started and that still run (a session's ``kgop tui``)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


async def log_in(session: aiohttp.ClientSession, url: str, token: str) -> str:
    """The cookie header the token URL gives (checked: HttpOnly, SameSite=Strict, and the
    redirect drops the token from the address bar)."""
    async with session.get(f"{url}/?token={token}&fontsize=14", allow_redirects=False) as reply:
        assert reply.status == 303
        assert reply.headers["Location"] == "/?fontsize=14"
        set_cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie
    assert "SameSite=Strict" in set_cookie
    return set_cookie.split(";", 1)[0]


async def first_screen(ws: aiohttp.ClientWebSocketResponse) -> bool:
    """Whether the session's TUI sends its screen (a process started for it)."""
    async with asyncio.timeout(60):
        while True:
            message = await ws.receive()
            if message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                return True
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return False


async def shows(ws: aiohttp.ClientWebSocketResponse, text: str, limit: float = 60) -> bool:
    """Whether the session's terminal output comes to contain ``text`` (a run of one style,
    written in one piece) within ``limit`` seconds."""
    seen = ""
    try:
        async with asyncio.timeout(limit):
            while text not in seen:
                message = await ws.receive()
                if message.type is aiohttp.WSMsgType.TEXT:
                    seen += message.data
                elif message.type is aiohttp.WSMsgType.BINARY:
                    seen += message.data.decode(errors="replace")
                else:
                    return False
    except TimeoutError:
        return False
    return True
