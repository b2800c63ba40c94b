"""Who gets into `kgop serve`: the real server process, driven with aiohttp's client.

Only the holder of the printed token (then its cookie), from the public URL's origin and at
a known host, opens a session; and only up to the cap. Every refusal starts no process.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import aiohttp
import pytest

from tests.support.engines import free_port, wait_for
from tests.support.serve import Output, children, first_screen, log_in

ROOT = Path(__file__).resolve().parents[2]
EVIL = "http://evil.example"


class Served(NamedTuple):
    output: Output
    url: str
    token: str
    port: int

    @property
    def pid(self) -> int:
        return self.output.process.pid

    @property
    def ws(self) -> str:
        return self.url.replace("http:", "ws:", 1) + "/ws"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """kgop serve with an empty KG_HOME and no Docker: each session shows its banner."""
    home = tmp_path_factory.mktemp("serve-access")
    (home / ".env").write_text("COMPOSE_PROJECT_NAME=access\n")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DOCKER_HOST": f"unix://{home}/no.sock"}
    process = subprocess.Popen(
        [sys.executable, "-m", "kgop_tui.cli", "--home", str(home), "serve", "--port",
         str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    output = Output(process)
    try:
        url, token = output.login()
        assert url == f"http://127.0.0.1:{port}"
        yield Served(output, url, token, port)
    finally:
        process.terminate()
        text = output.finish()
    assert text.count(token) == 1, text  # printed once, never logged


async def refused(served: Served, session: aiohttp.ClientSession, **headers: str) -> int:
    """The status a websocket handshake gets; 101 when it is let in."""
    try:
        async with session.ws_connect(served.ws, headers=headers):
            return 101
    except aiohttp.WSServerHandshakeError as error:
        return error.status


async def open_when_free(
    served: Served, session: aiohttp.ClientSession, headers: dict[str, str]
) -> aiohttp.ClientWebSocketResponse:
    """A session as soon as the cap lets one in (a closed one's place frees within 30 s)."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        try:
            return await session.ws_connect(served.ws, headers=headers)
        except aiohttp.WSServerHandshakeError as error:
            status = error.status
        assert status == 503
        assert asyncio.get_running_loop().time() < deadline, "a closed session's place stays taken"
        await asyncio.sleep(0.1)


def test_without_the_token_nothing_opens(served: Served) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{served.url}/") as page:
                assert page.status == 401
                assert "token" in await page.text()
            async with session.get(f"{served.url}/?token=guessed", allow_redirects=False) as bad:
                assert bad.status == 401
                assert "Set-Cookie" not in bad.headers
            async with session.get(f"{served.url}/static/js/textual.js") as script:
                assert script.status == 401
            assert await refused(served, session, Origin=served.url) == 401
            forged = {"Origin": served.url, "Cookie": f"kgop_session_{served.port}=guessed"}
            assert await refused(served, session, **forged) == 401

    asyncio.run(scenario())
    assert children(served.pid) == []  # no kgop tui was started


def test_the_token_url_gives_a_cookie_then_the_page_and_a_session(served: Served) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            cookie = await log_in(session, served.url, served.token)
            async with session.get(
                f"{served.url}/?fontsize=14", headers={"Cookie": cookie}
            ) as page:
                assert page.status == 200
                assert f"ws://127.0.0.1:{served.port}/ws" in await page.text()
            headers = {"Cookie": cookie, "Origin": served.url}
            async with session.ws_connect(served.ws, headers=headers) as ws:
                assert await first_screen(ws)
                assert len(children(served.pid)) == 1

    asyncio.run(scenario())
    wait_for(lambda: children(served.pid) == [], 30, "the session's process to end")


def test_a_foreign_origin_or_a_rebound_host_is_refused(served: Served) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            cookie = await log_in(session, served.url, served.token)
            assert await refused(served, session, Cookie=cookie, Origin=EVIL) == 403
            assert await refused(served, session, Cookie=cookie) == 403  # no Origin at all
            other_port = f"http://127.0.0.1:{served.port + 1}"
            assert await refused(served, session, Cookie=cookie, Origin=other_port) == 403
            rebound = {
                "Cookie": cookie,
                "Origin": served.url,
                "Host": f"evil.example:{served.port}",
            }
            assert await refused(served, session, **rebound) == 403
            async with session.get(f"{served.url}/", headers=rebound) as page:
                assert page.status == 403
            # A rebound name cannot log in either, even with the token.
            async with session.get(
                f"{served.url}/?token={served.token}", headers=rebound, allow_redirects=False
            ) as login:
                assert login.status == 403
                assert "Set-Cookie" not in login.headers

    asyncio.run(scenario())
    assert children(served.pid) == []


def test_a_fifth_session_is_refused_while_four_are_open(served: Served) -> None:
    async def scenario() -> None:
        async with aiohttp.ClientSession() as session:
            cookie = await log_in(session, served.url, served.token)
            headers = {"Cookie": cookie, "Origin": served.url}
            sockets = [await session.ws_connect(served.ws, headers=headers) for _ in range(4)]
            try:
                assert all([await first_screen(ws) for ws in sockets])
                assert await refused(served, session, **headers) == 503
                assert len(children(served.pid)) == 4
                await sockets.pop().close()
                sockets.append(await open_when_free(served, session, headers))
                assert await first_screen(sockets[-1])  # a place freed: a session opens again
            finally:
                for ws in sockets:
                    await ws.close()

    asyncio.run(scenario())
    wait_for(lambda: children(served.pid) == [], 30, "every session's process to end")
