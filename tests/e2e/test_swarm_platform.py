"""The platform's own images as a Docker Swarm stack, through operator.sh only: deploy-swarm,
start, status, logs. The test engine in Swarm mode for this module, left afterwards.

Swarm's virtual IPs need IPVS, which this machine's engines lack (iptables off): a test
overlay gives every service ``endpoint_mode: dnsrr``, so service names resolve to the
tasks' own addresses. Everything else is the release's compose files and stack.yml.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.engines import DockerEngine, wait_for
from tests.support.stack import ROOT, Stack, images_or_skip, shim_env, write_install

DNSRR = "".join(
    f"  {name}:\n    deploy:\n      endpoint_mode: dnsrr\n"
    for name in ("postgres", "garage", "operator", "api", "web")
)


def docker(engine: DockerEngine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], env=engine.env(), capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def swarm_stack(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    version = os.environ.get("KGOP_TEST_VERSION") or (ROOT / "VERSION").read_text().strip()
    images_or_skip(docker_engine, version)
    state = docker(docker_engine, "info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()
    assert state == "inactive", f"the test engine is already in a swarm ({state})"
    joined = docker(docker_engine, "swarm", "init", "--advertise-addr", "127.0.0.1")
    assert joined.returncode == 0, joined.stderr
    base = tmp_path_factory.mktemp("swarm-e2e")
    home = base / "kg"
    project, ports = write_install(home, docker_engine, version)
    (home / "compose" / "swarm-test.yml").write_text("services:\n" + DNSRR)
    env_file = home / ".env"
    env_file.write_text(
        env_file.read_text().replace(
            "COMPOSE_FILE=compose/compose.yml",
            "COMPOSE_FILE=compose/compose.yml:compose/swarm-test.yml",
        )
    )
    created = Stack(home=home, project=project, env=shim_env(base, docker_engine), ports=ports)
    try:
        yield created
    finally:
        docker(docker_engine, "stack", "rm", project)
        docker(docker_engine, "swarm", "leave", "--force")
        for volume in docker(docker_engine, "volume", "ls", "-q").stdout.split():
            if volume.startswith(f"{project}_"):
                docker(docker_engine, "volume", "rm", "-f", volume)


def status(stack: Stack) -> dict[str, Any]:
    done = stack.shim("status", "--json")
    assert done.returncode == 0, done.stderr
    return {s["service"]: s for s in json.loads(done.stdout)["services"]}


def test_deploy_start_and_operate_the_stack(swarm_stack: Stack) -> None:
    stack = swarm_stack
    deployed = stack.shim("deploy-swarm", "--resolve-image", "never")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert (stack.home / "garage" / "garage.toml").is_file()

    def infra_up() -> bool:
        done = stack.shim("status", "--json")
        if done.returncode != 0:
            return False  # the operator's task is not running yet
        services = {s["service"]: s for s in json.loads(done.stdout)["services"]}
        return all(
            services.get(name, {}).get("health") == "healthy"
            for name in ("postgres", "garage", "operator")
        )

    wait_for(infra_up, 240, "postgres, garage and the operator healthy on the swarm", 2)
    started = stack.shim("start", timeout=400)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "migrations" in started.stdout
    assert "deployed by the stack" in started.stdout
    assert "The platform is up" in started.stdout

    services = status(stack)
    for name in ("api", "web"):
        assert (services[name]["replicas"], services[name]["desired_replicas"]) == (2, 2), name
        assert services[name]["health"] == "healthy"
        assert [t["slot"] for t in services[name]["tasks"]] == [1, 2]
    assert services["postgres"]["desired_replicas"] == 1

    text = stack.shim("status")
    assert text.returncode == 0, text.stderr
    assert "REPLICAS" in text.stdout.splitlines()[0]

    logs = stack.shim("logs", "api", "--tail", "20")
    assert logs.returncode == 0, logs.stderr
    prefixes = {
        line.split(" | ", 1)[0].strip() for line in logs.stdout.splitlines() if " | " in line
    }
    assert prefixes == {"api.1", "api.2"}

    # Compose's verbs are refused on a stack rather than acting on containers it lacks.
    refused = stack.shim("stop")
    assert refused.returncode == 4
    assert "Swarm stack" in refused.stderr
