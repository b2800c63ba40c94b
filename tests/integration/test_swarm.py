"""kgop on a Docker Swarm stack: services and replicas, tasks, logs of every replica,
restarts the Swarm way. A private engine in Swarm mode, left afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.engines import DockerEngine, wait_for
from tests.support.swarm import start_swarm_engine, wait_converged

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def swarm(docker_engine: DockerEngine) -> Iterator[DockerEngine]:
    yield from start_swarm_engine(docker_engine)


class Site:
    def __init__(self, engine: DockerEngine, home: Path, stack: str) -> None:
        self.engine, self.home, self.stack = engine, home, stack

    def kgop(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": self.engine.host, "KG_HOME": str(self.home),
               "PYTHONPATH": str(ROOT)}  # fmt: skip
        return subprocess.run(
            [sys.executable, "-m", "kgop_tui.cli", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def docker(self, *args: str) -> str:
        done = subprocess.run(
            ["docker", *args], env=self.engine.env(), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def status(self) -> dict[str, Any]:
        done = self.kgop("status", "--json")
        assert done.returncode == 0, done.stderr
        return {s["service"]: s for s in json.loads(done.stdout)["services"]}


@pytest.fixture(scope="module")
def site(swarm: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("swarm")
    stack = f"kgsw{uuid.uuid4().hex[:6]}"
    (home / ".env").write_text(f"COMPOSE_PROJECT_NAME={stack}\n")
    (home / "stack.yml").write_text(
        "services:\n"
        "  api:\n"
        f"    image: {swarm.base_image}\n"
        "    command:\n"
        "      [sh, -c, 'i=0; while :; do i=$$((i+1)); echo api line $$i; sleep 0.5; done']\n"
        "    healthcheck:\n      test: [CMD, 'true']\n      interval: 1s\n"
        "    deploy:\n      replicas: 2\n      endpoint_mode: dnsrr\n"
        "      update_config:\n        order: start-first\n"
        "  worker:\n"
        f"    image: {swarm.base_image}\n"
        "    command: [sleep, infinity]\n"
        "    deploy:\n      replicas: 1\n      endpoint_mode: dnsrr\n"
    )
    s = Site(swarm, home, stack)
    s.docker("stack", "deploy", "--resolve-image", "never", "-c", str(home / "stack.yml"), stack)
    wait_converged(swarm, f"{stack}_api", 2)
    wait_converged(swarm, f"{stack}_worker", 1)
    yield s
    s.docker("stack", "rm", stack)


def test_status_shows_replicas_and_tasks_under_compose_names(site: Site) -> None:
    wait_for(lambda: site.status()["api"]["health"] == "healthy", 60, "api's tasks healthy")
    services = site.status()
    assert sorted(services) == ["api", "worker"]  # the compose names, not STACK_api
    api = services["api"]
    assert (api["replicas"], api["desired_replicas"], api["state"]) == (2, 2, "running")
    assert [t["slot"] for t in api["tasks"]] == [1, 2]
    assert {t["state"] for t in api["tasks"]} == {"running"}
    assert all(t["health"] == "healthy" and t["node"] for t in api["tasks"])
    assert services["worker"]["health"] == "none"
    text = site.kgop("status")
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0].split()[:3] == ["SERVICE", "STATE", "REPLICAS"]
    assert next(ln for ln in text.stdout.splitlines() if ln.startswith("api")).split()[2] == "2/2"


def test_a_killed_task_is_seen_and_replaced(site: Site) -> None:
    before = {t["slot"]: t["container_id"] for t in site.status()["api"]["tasks"]}
    site.docker("kill", before[1])
    seen: list[str] = []

    def replaced() -> bool:
        api = site.status()["api"]
        if api["replicas"] < 2:
            seen.append("short")
        slots = {t["slot"]: t for t in api["tasks"]}
        fresh = slots.get(1, {}).get("container_id") not in (None, before[1])
        return bool(fresh and api["replicas"] == 2 and api["restart_count"] >= 1)

    wait_for(replaced, 90, "slot 1 replaced by a new task")
    assert site.status()["api"]["tasks"][1]["container_id"] == before[2]  # slot 2 untouched


def test_logs_merge_every_replica_with_its_slot(site: Site) -> None:
    done = site.kgop("logs", "api", "--tail", "5")
    assert done.returncode == 0, done.stderr
    prefixes = {line.split(" | ", 1)[0].strip() for line in done.stdout.splitlines()}
    assert prefixes == {"api.1", "api.2"}
    assert all("api line" in line for line in done.stdout.splitlines())
    unknown = site.kgop("logs", "nope")
    assert unknown.returncode == 2
    assert "known services: api, worker" in unknown.stderr


def test_restart_replaces_the_tasks_the_swarm_way(site: Site) -> None:
    before = {t["container_id"] for t in site.status()["api"]["tasks"]}
    done = site.kgop("restart", "api")
    assert done.returncode == 0, done.stderr

    def all_new() -> bool:
        api = site.status()["api"]
        now = {t["container_id"] for t in api["tasks"] if t["state"] == "running"}
        return api["replicas"] == 2 and not now & before

    wait_for(all_new, 120, "both replicas replaced")
    stop = site.kgop("stop", "api")
    assert stop.returncode == 1
    assert "docker service scale" in stop.stderr
    assert site.status()["api"]["replicas"] == 2


async def test_health_screen_shows_replicas_and_tasks(site: Site) -> None:
    from textual.widgets import DataTable, Static

    from kgop_tui.app import KgopApp
    from kgop_tui.services.wiring import build_services
    from kgop_tui.settings import load_settings
    from tests.support.tui import until

    settings = load_settings(kg_home=site.home, environ={"DOCKER_HOST": site.engine.host})
    app = KgopApp(build_services(settings))
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 2, "the stack's two services", 30)
        api = f"{site.stack}_api"
        assert str(table.get_row(api)[0]) == "api"
        await until(pilot, lambda: str(table.get_row(api)[1]) == "● running 2/2", "2/2", 30)
        detail = str(app.screen.query_one("#service-detail", Static).render())
        assert "api.1  running" in detail
        assert "api.2  running" in detail
        # A task killed: the screen follows the stack's events to 1/2 (or 0/2) and back.
        site.docker("kill", site.status()["api"]["tasks"][0]["container_id"])
        await until(pilot, lambda: str(table.get_row(api)[1]) != "● running 2/2", "short", 30)
        await until(pilot, lambda: str(table.get_row(api)[1]) == "● running 2/2", "back", 60)
        # Enter on api: its tasks become rows below it, each with its state, node and image.
        table.move_cursor(row=table.get_row_index(api))
        await pilot.press("enter")
        await until(pilot, lambda: table.row_count == 4, "api's tasks as rows", 10)
        index = table.get_row_index(api)
        tasks = [[str(c) for c in table.get_row_at(index + i)] for i in (1, 2)]
        assert [t[0] for t in tasks] == [" └ api.1", " └ api.2"]
        assert all(t[1].startswith("● running on ") for t in tasks), tasks
        assert all(t[9] == site.status()["api"]["image"] for t in tasks), tasks
