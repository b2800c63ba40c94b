"""The whole chain: real images, compose, the host shim, the TUI in tmux."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.engines import DockerEngine, require_or_skip

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def minimal_path(target: Path) -> str:
    """A PATH with only bash, docker and coreutils, as on a bare server."""
    target.mkdir()
    listed = subprocess.run(["dpkg", "-L", "coreutils"], capture_output=True, text=True)
    tools = [Path(p) for p in listed.stdout.split() if p.startswith(("/bin/", "/usr/bin/"))]
    for tool in [
        *tools,
        Path(shutil.which("bash") or "/bin/bash"),
        Path(shutil.which("docker") or "docker"),
    ]:
        if tool.exists() and not (target / tool.name).exists():
            (target / tool.name).symlink_to(tool)
    return str(target)


@dataclass
class Stack:
    home: Path
    project: str
    env: dict[str, str]
    ports: dict[str, int]

    def shim(
        self,
        *args: str,
        stdin: str | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.home / "operator.sh"), *args],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", *args],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )


def images_or_skip(engine: DockerEngine, version: str) -> None:
    for image in (
        f"kg-operator:{version}",
        f"kg-api:{version}",
        f"kg-web:{version}",
        "kg-postgres:15",
        "kg-garage-standin:test",
    ):
        found = subprocess.run(
            ["docker", "image", "inspect", image], capture_output=True, env=engine.env()
        )
        if found.returncode != 0:
            require_or_skip(f"image {image} is missing (scripts/test.sh builds it)")


def write_install(home: Path, engine: DockerEngine, version: str) -> tuple[str, dict[str, int]]:
    """What install.sh lays down: the shim, compose files, migrations, and .env."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "operator.sh", home / "operator.sh")
    shutil.copytree(ROOT / "compose", home / "compose")
    shutil.copytree(ROOT / "kgop_tui" / "sql", home / "sql")
    project = f"kgope2e{uuid.uuid4().hex[:6]}"
    ports = {name: free_port() for name in ("POSTGRES", "API", "WEB", "GARAGE_S3", "GARAGE_ADMIN")}
    lines = [
        f"COMPOSE_PROJECT_NAME={project}",
        "COMPOSE_FILE=compose/compose.yml",
        f"KG_HOME={home}",
        f"KG_VERSION={version}",
        f"KG_OPERATOR_IMAGE=kg-operator:{version}",
        f"KG_API_IMAGE=kg-api:{version}",
        f"KG_WEB_IMAGE=kg-web:{version}",
        "KG_POSTGRES_IMAGE=kg-postgres:15",
        "KG_GARAGE_IMAGE=kg-garage-standin:test",
        f"KG_DOCKER_SOCKET={engine.host.removeprefix('unix://')}",
        f"POSTGRES_PASSWORD={uuid.uuid4().hex}",
        f"ENCRYPTION_KEY={Fernet.generate_key().decode()}",
        f"GARAGE_RPC_SECRET={uuid.uuid4().hex * 2}",
        f"GARAGE_ADMIN_TOKEN={uuid.uuid4().hex}",
        *(f"KG_{name}_PORT={port}" for name, port in ports.items()),
    ]
    (home / ".env").write_text("\n".join(lines) + "\n")
    (home / ".env").chmod(0o600)
    return project, ports


@pytest.fixture(scope="module")
def stack(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    version = os.environ.get("KGOP_TEST_VERSION") or (ROOT / "VERSION").read_text().strip()
    images_or_skip(docker_engine, version)
    base = tmp_path_factory.mktemp("e2e")
    home = base / "kg"
    project, ports = write_install(home, docker_engine, version)
    env = {
        "PATH": minimal_path(base / "bin"),
        "DOCKER_HOST": docker_engine.host,
        "HOME": str(base),
        "LANG": "C.UTF-8",
    }
    created = Stack(home=home, project=project, env=env, ports=ports)
    try:
        yield created
    finally:
        created.compose("down", "--volumes", "--remove-orphans", "--timeout", "2")
