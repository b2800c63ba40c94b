"""`kgop status` against a real compose project on the real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engines import ComposeProject, DockerEngine, compose_project, wait_for
from tests.support.helpers import kgop_in_project


def services(image: str) -> str:
    common = f"    image: {image}\n    stop_signal: SIGKILL\n    labels:\n      kgop.test: '1'\n"
    return (
        "  good:\n" + common
        + "    command: [sleep, infinity]\n"
        "    healthcheck:\n      test: [CMD, 'true']\n      interval: 1s\n      retries: 1\n"
        "  sick:\n" + common
        + "    command: [sleep, infinity]\n"
        "    healthcheck:\n"
        "      test: [CMD-SHELL, 'echo db not ready: connection refused; exit 1']\n"
        "      interval: 1s\n      retries: 1\n"
        "  done:\n" + common
        + "    command: [sh, -c, 'exit 3']\n    restart: 'no'\n"
    )  # fmt: skip


@pytest.fixture(scope="module")
def project(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeProject]:
    home = tmp_path_factory.mktemp("kg-home")
    proj = compose_project(docker_engine, home, services(docker_engine.base_image))
    proj.compose("up", "-d")
    try:
        wait_for(lambda: proj.state("good") == ("running", "healthy"), 60, "good to be healthy")
        wait_for(lambda: proj.state("sick") == ("running", "unhealthy"), 60, "sick to fail")
        wait_for(lambda: proj.state("done")[0] == "exited", 60, "done to exit")
        yield proj
    finally:
        proj.compose("down", "-v", "--remove-orphans")


def kgop(project: ComposeProject, *args: str) -> subprocess.CompletedProcess[str]:
    return kgop_in_project(project.home, *args)


def test_status_text(project: ComposeProject) -> None:
    done = kgop(project, "status")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:4]}
    assert set(rows) == {"done", "good", "sick"}
    assert rows["good"][1:3] == ["running", "healthy"]
    assert rows["sick"][1:3] == ["running", "unhealthy"]
    assert rows["done"][1:3] == ["exited", "(3)"]
    assert "sick: unhealthy — last probe exited 1: db not ready: connection refused" in done.stdout
    assert "done: exited with code 3" in done.stdout


def test_status_json(project: ComposeProject) -> None:
    done = kgop(project, "status", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["project"] == project.name
    by_name = {s["service"]: s for s in doc["services"]}
    assert sorted(by_name) == ["done", "good", "sick"]
    good, sick, dead = by_name["good"], by_name["sick"], by_name["done"]
    assert (good["state"], good["health"], good["exit_code"]) == ("running", "healthy", None)
    assert good["uptime_seconds"] >= 0
    assert good["started_at"]
    assert good["container_name"] == f"{project.name}-good-1"
    assert good["image"] == project.engine.base_image
    assert sick["health"] == "unhealthy"
    assert sick["health_exit_code"] == 1
    assert sick["health_output"] == "db not ready: connection refused"
    assert (dead["state"], dead["exit_code"], dead["uptime_seconds"]) == ("exited", 3, None)
    assert set(good) >= {"restart_count", "version", "ports", "container_id", "finished_at"}


def test_other_projects_are_not_listed(project: ComposeProject, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        f"COMPOSE_PROJECT_NAME={project.name}x\nDOCKER_HOST={project.engine.host}\n"
    )
    env = {**os.environ, "KG_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "kgop_tui.cli", "status", "--json"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0
    assert json.loads(done.stdout)["services"] == []
