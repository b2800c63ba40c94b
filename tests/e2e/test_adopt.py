"""``./install.sh --adopt DIR``: kgop takes over a host the platform's own install.sh set up
(tests/support/standalone.py lays it out and brings it up with the platform's compose files),
losing nothing.

One platform install for the module, in order: a dry run changes nothing; an adoption that
fails halfway (an image kgop needs is missing) leaves the platform running as before, exit 1;
the adoption keeps the secrets, data, Garage key and ports, the admin logs in through the
platform's api, kgop's verbs work; an upgrade to the next release through kgop works.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_platform_chain import health, login
from tests.e2e.test_upgrade_platform import KEYS, assert_kept, seed, snapshot
from tests.support.engines import DockerEngine, wait_for
from tests.support.helpers import fetch
from tests.support.stack import Stack, kgop_version, run_script
from tests.support.standalone import (
    CONTAINERS,
    GHCR,
    Standalone,
    bring_up,
    platform_images,
    set_password,
    summary,
)

ROOT = Path(__file__).resolve().parents[2]
VERSION = "0.16.0"
NEXT = os.environ.get("KGOP_TEST_PLATFORM", "0.17.1")
PASSWORD = secrets.token_urlsafe(16)
REDIRECT = "http://localhost:3000/callback"  # the platform's own kg-web client (its baseline)
KGOP_PROJECT = "knowledge-graph-kgop"


@pytest.fixture(scope="module")
def platform(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Standalone]:
    base = tmp_path_factory.mktemp("adopt")
    env = {**docker_engine.env(), "HOME": str(base), "LANG": "C.UTF-8"}
    env.pop("COMPOSE_PROJECT_NAME", None)
    tags = platform_images(env, VERSION, docker_engine.base_image)
    socket = docker_engine.host.removeprefix("unix://")
    site = bring_up(base / "knowledge-graph", env, VERSION, socket)
    try:
        wait_for(
            lambda: health(site.api).get("status") == "healthy", 180, "the platform's api healthy"
        )
        seed(
            Stack(
                home=site.folder,
                project="knowledge-graph",
                env=env,
                ports={"POSTGRES": site.ports["postgres"]},
            )
        )
        set_password(site, "ops", PASSWORD)
        yield site
    finally:
        home = site.folder.parent / "kg"
        if (home / ".env").exists():
            subprocess.run(
                ["docker", "compose", "down", "-t", "2"], cwd=home, env=env, capture_output=True
            )
        site.teardown()
        later = [f"{GHCR}/kg-{role}:{NEXT}" for role in ("api", "web")]
        subprocess.run(["docker", "rmi", *tags, *later], env=env, capture_output=True)


def adopt(site: Standalone, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    merged = {**site.env, "KG_OPERATOR_IMAGE": f"kg-operator:{kgop_version()}", **env}
    return run_script([str(ROOT / "install.sh"), "--adopt", str(site.folder), "--yes", *args],
                      merged, None, 900)  # fmt: skip


def shim(site: Standalone, *args: str) -> str:
    home = site.folder.parent / "kg"
    done = run_script([str(home / "operator.sh"), *args], site.env, None, 900, cwd=home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done.stdout


def kgop_containers(site: Standalone) -> list[str]:
    out = site.docker("ps", "-a", "--filter", f"label=com.docker.compose.project={KGOP_PROJECT}",
                      "--format", "{{.Names}}")  # fmt: skip
    return out.split()


def mounted(site: Standalone, container: str) -> set[tuple[str, str]]:
    """The volumes a container mounts: (name, mount point)."""
    mounts = json.loads(site.docker("inspect", "--format", "{{json .Mounts}}", container))
    return {(m["Name"], m["Destination"]) for m in mounts if m["Type"] == "volume"}


def logs_in(site: Standalone) -> bool:
    return login(site.api, "ops", PASSWORD, REDIRECT)[0] == 200


def test_dry_run_changes_nothing(platform: Standalone) -> None:
    before = platform.state()
    done = adopt(platform, "--dry-run")
    assert done.returncode == 0, done.stderr
    mounts = "{{range .Mounts}}{{.Name}}{{end}}"
    volume = platform.docker("inspect", "--format", mounts, "knowledge-graph-postgres").strip()
    assert f"{volume} (/var/lib/postgresql)" in done.stdout
    assert "stopped, never removed" in done.stdout
    assert "nothing was changed" in done.stdout
    assert platform.state() == before, summary(platform.state())
    assert not (platform.folder.parent / "kg").exists()


def test_a_failure_halfway_restores_the_platform(platform: Standalone) -> None:
    before, data = platform.state(), snapshot(platform.dsn)
    done = adopt(platform, KG_WEB_IMAGE=f"{GHCR}/kg-web:not-here")
    said = done.stdout + done.stderr  # after the plan, the log is on stdout as well
    assert done.returncode == 1, said[-4000:]
    assert 'failed in the step "start"' in said
    # The reason: compose could not get the image (no registry is reachable here).
    assert "`docker compose up --detach --no-deps api web` failed" in said
    assert "the platform runs as before" in said
    # It got as far as stopping the platform and starting kgop's stack.
    assert "stopped kg-api" in said
    assert platform.state()["containers"] == before["containers"]  # the same ids, running
    assert platform.state()["files"] == before["files"]
    assert platform.state()["volumes"] == before["volumes"]
    assert kgop_containers(platform) == []
    assert not (platform.folder.parent / "kg" / ".env").exists()
    assert list((platform.folder.parent / "kg" / "backups").iterdir()), "the backup is kept"
    wait_for(lambda: health(platform.api).get("status") == "healthy", 120, "the api healthy again")
    assert logs_in(platform)
    assert_kept(data, snapshot(platform.dsn))


def test_adoption_keeps_everything_and_kgop_operates_it(platform: Standalone) -> None:
    before, data = platform.state(), snapshot(platform.dsn)
    original_env = (platform.folder / ".env").read_bytes()
    applied = fetch(
        platform.dsn, "SELECT version, name FROM public.schema_migrations ORDER BY version"
    )
    done = adopt(platform)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    home = platform.folder.parent / "kg"

    # The platform's files untouched; its .env copied byte for byte, kgop's lines after it.
    assert platform.state()["files"] == before["files"]
    kgop_env = (home / ".env").read_bytes()
    assert kgop_env.startswith(original_env)
    assert (home / ".env").stat().st_mode & 0o777 == 0o600
    # The platform's containers stopped, not removed; kgop's running on the same volumes.
    for name in CONTAINERS:
        now = platform.docker("inspect", "--format", "{{.Id}} {{.State.Running}}", name)
        assert now.strip() == before["containers"][name].replace(" true", " false")
    assert platform.state()["volumes"] == before["volumes"]
    kgop_postgres = f"{KGOP_PROJECT}-postgres-1"
    assert mounted(platform, kgop_postgres) == mounted(platform, "knowledge-graph-postgres")

    # The same data, the same port, the admin logs in, the api reads the stored Garage key.
    wait_for(lambda: health(platform.api).get("status") == "healthy", 120, "kgop's api healthy")
    assert logs_in(platform)
    assert_kept(data, snapshot(platform.dsn))
    assert (
        fetch(platform.dsn, "SELECT version, name FROM public.schema_migrations ORDER BY version")
        == applied
    )
    recorded = fetch(platform.dsn, "SELECT count(*) AS n FROM kgop.migrations")[0]["n"]
    assert recorded == len(applied)

    # kgop's verbs on the adopted install.
    status = json.loads(shim(platform, "status", "--json"))
    assert status, status
    assert "api-1" in shim(platform, "logs", "api")  # compose prefixes each line
    configured = shim(platform, "configure", "status", "--json")
    for provider in (*KEYS, "garage"):
        assert provider in configured
    garage = shim(platform, "garage", "status")
    assert "key" in garage.lower()
    backup = json.loads(shim(platform, "backup", "--json"))
    assert Path(backup["path"]).exists()
    migrations = json.loads(shim(platform, "migrate", "status", "--json"))
    assert [m for m in migrations["entries"] if m["state"] in ("drifted", "missing")] == []


def test_an_upgrade_after_adoption(platform: Standalone) -> None:
    data = snapshot(platform.dsn)
    for role in ("api", "web"):
        platform.docker("tag", f"platform/kg-{role}:{NEXT}", f"{GHCR}/kg-{role}:{NEXT}")
    said = shim(platform, "upgrade", "--to", NEXT, "--yes")
    assert NEXT in said
    wait_for(
        lambda: health(platform.api).get("status") == "healthy", 180, f"the {NEXT} api healthy"
    )
    assert logs_in(platform)
    after: dict[str, Any] = snapshot(platform.dsn)
    assert_kept(data, after)
