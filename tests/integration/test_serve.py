"""`kgop serve`: the real TUI in a real browser, on loopback, read-only by default."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.browser import screenshot_until
from tests.support.engines import (
    ComposeProject,
    DockerEngine,
    compose_project,
    free_port,
    wait_for,
)
from tests.support.serve import Output

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeProject]:
    home = tmp_path_factory.mktemp("serve")
    yaml = (
        f"  api:\n    image: {docker_engine.base_image}\n"
        "    command: [sleep, infinity]\n    stop_signal: SIGKILL\n"
        "    labels:\n      kgop.test: '1'\n"
        "    healthcheck:\n      test: [CMD, 'true']\n      interval: 1s\n      retries: 1\n"
        f"  worker:\n    image: {docker_engine.base_image}\n"
        "    command: [sleep, infinity]\n    stop_signal: SIGKILL\n"
        "    labels:\n      kgop.test: '1'\n"
    )
    proj = compose_project(docker_engine, home, yaml)
    proj.compose("up", "-d")
    wait_for(lambda: proj.state("api") == ("running", "healthy"), 60, "api healthy")
    yield proj
    proj.compose("down", "-v")


def listening_addresses(port: int) -> set[str]:
    """Local IPv4 addresses with a listening TCP socket on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            octets = bytes.fromhex(address)[::-1]
            found.add(".".join(str(b) for b in octets))
    return found


def answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` (with anything: without the token, 401)."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def test_serve_shows_health_in_a_browser_read_only(
    project: ComposeProject, docker_engine: DockerEngine, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "DOCKER_HOST": docker_engine.host, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "kgop_tui.cli", "--home", str(project.home), "serve",
         "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    output = Output(server)
    try:
        public, token = output.login(60)
        assert public == f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(public) or server.poll() is not None, 60, "kgop serve to answer")
        assert server.poll() is None, "kgop serve exited"
        assert listening_addresses(port) == {"127.0.0.1"}  # loopback only, by default

        def health_shown(text: str) -> bool:
            return "Health" in text and "read-only" in text and "worker" in text

        # The URL kgop serve printed: the token becomes a cookie, then the page and its session.
        text = screenshot_until(f"{public}/?token={token}", health_shown, tmp_path / "serve.png")
        assert "running" in text
        footer = next(line for line in text.splitlines() if "Doctor" in line)
        for key in ("Stop", "Start", "Restart"):  # actions that change something: not offered
            assert key not in footer, footer
    finally:
        server.terminate()
        text = output.finish(30)
    assert "read-only" in text
