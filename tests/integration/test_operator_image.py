"""The kg-operator image's compose binary: the build's architecture, checked by SHA-256.

scripts/test.sh builds the image offline with the compose binary it provisions and that
binary's checksum; these builds change one argument to show the check refuses.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_recert import expired_pair
from tests.support.engines import DockerEngine, wait_for

ROOT = Path(__file__).resolve().parents[2]


def build(engine: DockerEngine, *args: str) -> subprocess.CompletedProcess[str]:
    if not (ROOT / "build" / "docker-compose").exists():
        pytest.fail("build/docker-compose is missing (scripts/test.sh provides it)")
    return subprocess.run(
        ["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={engine.base_image}",
         "--build-arg", "WHEELHOUSE=build/wheels",
         "--build-arg", "COMPOSE_BINARY=build/docker-compose", *args, "-t", "kgop-test-refused",
         str(ROOT)],
        capture_output=True, text=True, env=engine.env(), timeout=600,
    )  # fmt: skip


def host_arch() -> str:
    done = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    return done.stdout.strip()


def test_a_compose_binary_that_does_not_match_its_checksum_fails_the_build(
    docker_engine: DockerEngine,
) -> None:
    arch = host_arch().upper()
    done = build(docker_engine, "--build-arg", f"COMPOSE_SHA256_{arch}={'0' * 64}")
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "does not match its pinned SHA-256" in output


def test_an_architecture_without_a_pinned_binary_fails_the_build(
    docker_engine: DockerEngine,
) -> None:
    done = build(docker_engine, "--build-arg", "TARGETARCH=s390x")
    assert done.returncode != 0
    assert "no compose binary pinned for s390x (amd64, arm64)" in done.stdout + done.stderr


def test_the_built_image_runs_compose_for_this_architecture(docker_engine: DockerEngine) -> None:
    version = os.environ.get("KGOP_TEST_VERSION") or (ROOT / "VERSION").read_text().strip()
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", f"kg-operator:{version}",
         "docker-compose", "version", "--short"],
        capture_output=True, text=True, env=docker_engine.env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()[0].isdigit()


def test_the_operator_container_renews_an_expired_certificate_by_itself(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    from kgop_tui.services.tls.certs import certificate_status

    version = os.environ.get("KGOP_TEST_VERSION") or (ROOT / "VERSION").read_text().strip()
    home = tmp_path / "kg"
    (home / "certs").mkdir(parents=True)
    (home / ".env").write_text(
        "COMPOSE_PROJECT_NAME=kgopdaily\nKG_SSL_MODE=self-signed\nKG_HOSTNAME=localhost\n"
    )
    expired_pair(home / "certs" / "kg.crt", home / "certs" / "kg.key")
    status = certificate_status(home)
    assert status is not None
    assert status.problem is not None  # what the Health screen shows: expired
    assert "expired" in status.problem
    name = f"kgop-daily-{tmp_path.name[-8:].lower()}"
    socket = docker_engine.host.removeprefix("unix://")
    started = subprocess.run(
        ["docker", "run", "-d", "--name", name, "--network", "none", "-e", f"KG_HOME={home}",
         "-w", str(home), "-v", f"{home}:{home}", "-v", f"{socket}:/var/run/docker.sock",
         f"kg-operator:{version}"],
        capture_output=True, text=True, env=docker_engine.env(), timeout=60,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:

        def logged() -> bool:
            logs = subprocess.run(
                ["docker", "logs", name], capture_output=True, text=True, env=docker_engine.env()
            )
            return "renewed; valid until" in logs.stdout + logs.stderr

        wait_for(logged, 60, "the operator container's daily recert to report a renewal")
        now = certificate_status(home)
        assert now is not None
        assert (now.days_left or 0) > 800
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, env=docker_engine.env())
