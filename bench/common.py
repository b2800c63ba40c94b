"""Shared helpers for benchmarks that need the Docker engine (DOCKER_HOST)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BASE_IMAGE = os.environ.get("KGOP_BASE_IMAGE", "kgop-base:bookworm")


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


@contextmanager
def bench_project(home: Path) -> Iterator[tuple[str, str]]:
    """A labelled network and KG_HOME/.env for a throwaway project; yields (project, net)."""
    project = f"kgopbench{uuid.uuid4().hex[:6]}"
    network = docker("network", "create", "--label", "kgop.test=1", project)
    (home / ".env").write_text(
        f"COMPOSE_PROJECT_NAME={project}\n"
        f"DOCKER_HOST={os.environ.get('DOCKER_HOST', 'unix:///var/run/docker.sock')}\n"
    )
    try:
        yield project, project
    finally:
        ids = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}")
        if ids:
            docker("rm", "-f", *ids.split(), check=False)
        docker("network", "rm", network, check=False)


def run_service(project: str, network: str, service: str, *command: str) -> str:
    return docker(
        "run", "-d", "--network", network, "--label", "kgop.test=1",
        "--label", f"com.docker.compose.project={project}",
        "--label", f"com.docker.compose.service={service}",
        "--label", "com.docker.compose.oneoff=False",
        "--name", f"{project}-{service}-1", BASE_IMAGE, *command,
    )  # fmt: skip


def runs_on_sites(runs: int, one_run: Callable[[Any], dict[str, float]]) -> list[dict[str, float]]:
    """``one_run(site)`` RUNS times on an upgrade site (stacks of the test images), printing
    each run's figures; every stack is taken down after."""
    import tempfile

    from tests.support.engines import DockerEngine
    from tests.support.stack import UpgradeSite

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        site = UpgradeSite(
            engine=DockerEngine(host=host, base_image=""), base=Path(tmp), stacks=[], images=[]
        )
        try:
            for n in range(runs):
                results.append(one_run(site))
                print(f"run {n + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in results[-1].items()))
        finally:
            for stack in site.stacks:
                stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "2")
    return results


def median_of(results: list[dict[str, float]]) -> Callable[[str], float]:
    """The median of one figure across runs: ``med = median_of(results); med("backup")``."""
    import statistics

    return lambda key: statistics.median(r[key] for r in results)
