"""The Docker engine restarted under a running platform, with live-restore (Docker's advice
for production: containers keep running): the shim finds the operator holding the old
socket and recreates it once, so delegated verbs and the TUI reach the engine again.

A private engine of its own (this test restarts it), with the operator's image copied over.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engines import DockerEngine, wait_for
from tests.support.stack import images_or_skip, kgop_version, releases, shim_env, write_install
from tests.support.swarm import PrivateEngine, copy_images


@pytest.fixture
def engine(docker_engine: DockerEngine) -> Iterator[PrivateEngine]:
    version = kgop_version()
    images_or_skip(docker_engine, releases()[0])
    private = PrivateEngine(f"kgop-restart-{uuid.uuid4().hex[:6]}", ["--live-restore"])
    try:
        private.start()
        copy_images(docker_engine, private.host, [f"kg-operator:{version}"])
        yield private
    finally:
        env = {**os.environ, "DOCKER_HOST": private.host}
        if private.process is not None:
            ids = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, env=env)
            if ids.stdout.split():
                subprocess.run(["docker", "rm", "-f", *ids.stdout.split()], env=env, timeout=120)
        private.remove()


def test_the_operator_follows_a_restarted_engine(engine: PrivateEngine, tmp_path: Path) -> None:
    home = tmp_path / "kg"
    # Only the operator runs here (the engine has no other image): the newest release's
    # install as install.sh lays it down.
    project, _ = write_install(
        home, DockerEngine(engine.host, ""), releases()[0], kgop_version(), platform_schema=True
    )
    env = shim_env(tmp_path, DockerEngine(engine.host, ""))

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args), cwd=home, env=env, capture_output=True, text=True, timeout=timeout
        )

    assert run("docker", "compose", "up", "-d", "--no-deps", "operator").returncode == 0
    operator = f"{project}-operator"
    first = run("./operator.sh", "status", "--json")
    assert first.returncode == 0, first.stderr
    assert "operator" in {s["service"] for s in json.loads(first.stdout)["services"]}
    started = run("docker", "inspect", "-f", "{{.State.StartedAt}}", operator).stdout

    engine.stop()  # live-restore: the operator container keeps running meanwhile
    engine.start()
    assert run("docker", "inspect", "-f", "{{.State.StartedAt}}", operator).stdout == started
    # What a user met: the operator's socket is the old one; kgop inside cannot reach it.
    stale = run("docker", "exec", operator, "kgop", "status", "--json")
    assert stale.returncode == 3, stale.stdout + stale.stderr

    again = run("./operator.sh", "status", "--json", timeout=300)
    assert again.returncode == 0, again.stderr
    assert "The Docker engine restarted" in again.stderr
    assert "operator" in {s["service"] for s in json.loads(again.stdout)["services"]}
    # Once: the next call finds nothing to repair.
    wait_for(lambda: run("docker", "exec", operator, "true").returncode == 0, 60, "operator")
    quiet = run("./operator.sh", "status", "--json")
    assert quiet.returncode == 0, quiet.stderr
    assert "restarted" not in quiet.stderr
