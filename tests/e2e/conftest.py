"""Fixtures of the end-to-end tier: a stack per test module, an upgrade site per test."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engines import DockerEngine, require_or_skip, wait_for
from tests.support.stack import (
    InstallSite,
    Stack,
    UpgradeSite,
    free_port,
    images_or_skip,
    kgop_version,
    minimal_path,
    releases,
    shim_env,
    write_install,
)


@pytest.fixture(scope="module")
def stack(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An install of the platform's newest release as install.sh lays it down (its schema,
    its own api and web, kgop's operator), not started."""
    newest = releases()[0]
    images_or_skip(docker_engine, newest)
    base = tmp_path_factory.mktemp("e2e")
    home = base / "kg"
    project, ports = write_install(
        home, docker_engine, newest, kgop_version(), platform_schema=True
    )
    created = Stack(home=home, project=project, env=shim_env(base, docker_engine), ports=ports)
    try:
        yield created
    finally:
        created.compose("down", "--volumes", "--remove-orphans", "--timeout", "2")


@pytest.fixture
def site(docker_engine: DockerEngine, tmp_path: Path) -> Iterator[UpgradeSite]:
    created = UpgradeSite(engine=docker_engine, base=tmp_path, stacks=[], images=[])
    try:
        yield created
    finally:
        for stack in created.stacks:
            stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "2")
        if created.images:
            created.docker("rmi", "--force", *created.images)


@pytest.fixture(scope="module")
def machine(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InstallSite]:
    images_or_skip(docker_engine, releases()[0])
    base = tmp_path_factory.mktemp("install")
    env = {
        "PATH": minimal_path(base / "bin") + ":/usr/bin:/bin",
        "DOCKER_HOST": docker_engine.host,
        "HOME": str(base),
        "LANG": "C.UTF-8",
        "KG_POSTGRES_IMAGE": "kg-postgres:15",
        "KG_GARAGE_IMAGE": "kg-garage-standin:test",
        "KG_NGINX_IMAGE": "kg-nginx:test",
    }
    made = InstallSite(base=base, env=env)
    yield made
    # Each home's own .env names its project: the variable set for the last test must not.
    teardown_env = {k: v for k, v in env.items() if k != "COMPOSE_PROJECT_NAME"}
    for home in made.homes:
        if (home / ".env").exists():
            subprocess.run(
                ["docker", "compose", "down", "-v", "-t", "2"],
                cwd=home,
                env=teardown_env,
                capture_output=True,
                timeout=120,
            )


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    if not shutil.which("docker-registry"):
        require_or_skip("docker-registry is not installed (scripts/test.sh installs it)")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {tmp_path / 'registry'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    server = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "registry.log").open("w"),
    )

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(answers, 30, "the registry")
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)
