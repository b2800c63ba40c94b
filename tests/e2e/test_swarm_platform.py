"""The platform's own images as a Docker Swarm stack, through operator.sh only: deploy-swarm,
start, status, logs, and upgrades as rolling updates (or scale to zero, for a release that
is not rolling). On a private engine in Swarm mode with the release images copied to it,
stopped afterwards (Swarm on the shared test engine disturbs the compose tests running
beside it). The stack, the probe and dnsrr: tests/support/swarm_platform.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from kgop_tui.releases import load_manifest
from tests.e2e.upgrades import step_states, upgrade_status
from tests.support.engines import DockerEngine
from tests.support.stack import Stack, UpgradeSite, images_or_skip, kgop_version, releases
from tests.support.swarm import start_swarm_engine
from tests.support.swarm_platform import (
    deploy,
    docker,
    not_rolling_operator,
    on_images,
    platform_image,
    probe,
    status,
    swarm_images,
    timed_upgrade,
)


@pytest.fixture(scope="module")
def swarm(docker_engine: DockerEngine) -> Iterator[DockerEngine]:
    for version in releases()[:2]:
        images_or_skip(docker_engine, version)
    yield from start_swarm_engine(docker_engine, swarm_images())


@pytest.fixture(scope="module")
def site(swarm: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> UpgradeSite:
    """Stacks and images on the private Swarm engine: they go with it."""
    base = tmp_path_factory.mktemp("swarm-e2e")
    return UpgradeSite(engine=swarm, base=base, stacks=[], images=[])


@pytest.fixture(scope="module")
def stack(site: UpgradeSite) -> Stack:
    """The previous release of the platform's own api and web (not stand-ins) on Swarm."""
    _, previous, _ = releases()
    return deploy(site, api=platform_image("api", previous), web=platform_image("web", previous))


def test_deploy_start_and_operate_the_stack(stack: Stack, site: UpgradeSite) -> None:
    _, previous, _ = releases()
    # garage.toml reached Garage as a Swarm config named after its content, not a bind mount.
    configs = docker(site.engine, "config", "ls", "--format", "{{.Name}}").stdout.split()
    assert [c for c in configs if c.startswith(f"{stack.project}_garage-garage.toml-")], configs
    services = status(stack)
    for name in ("api", "web"):
        assert (services[name]["replicas"], services[name]["desired_replicas"]) == (2, 2), name
        assert services[name]["health"] == "healthy"
        assert [t["slot"] for t in services[name]["tasks"]] == [1, 2]
        assert services[name]["version"] == previous
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


def test_rolling_upgrade_serves_every_request(stack: Stack, site: UpgradeSite) -> None:
    newest, previous, _ = releases()
    admin = stack.shim("admin", "--password-stdin", stdin="swarm admin password\n")
    assert admin.returncode == 0, admin.stderr
    with probe(site, stack) as result:
        done, took = timed_upgrade(stack, newest)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "served throughout" in done.stdout
    print(
        f"\nrolling upgrade {previous} → {newest} on Swarm: {took:.1f} s through operator.sh; "
        f"probe: {result['ok']} answered, {result['failed']} failed {result['errors']}, "
        f"longest between two answers {result['longest_outage']:.2f} s"
    )
    assert result["failed"] == 0, result
    assert result["ok"] > 100
    assert on_images(
        stack, {"api": platform_image("api", newest), "web": platform_image("web", newest)}
    )
    # One kgop operates both releases: the operator service stays on its image.
    image = "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    spec = docker(site.engine, "service", "inspect", "-f", image, f"{stack.project}_operator")
    assert spec.stdout.strip().split("@")[0] == f"kg-operator:{kgop_version()}", (
        spec.stdout + spec.stderr
    )
    steps = step_states(upgrade_status(stack))
    assert steps["stop"] == "done"
    assert steps["verify"] == "done"
    config = stack.shim("configure", "status", "--json")
    assert [a["username"] for a in json.loads(config.stdout)["admins"]] == ["admin"]
    # The platform's own api, upgraded, logs the admin in through kg-web's seeded redirect
    # (asked from the stack's overlay network, as a browser behind the front would reach it).
    answer = overlay_login(site, stack, "admin", "swarm admin password")
    assert answer.startswith("200 "), answer
    assert overlay_login(site, stack, "admin", "wrong password").startswith("401 ")
    migrations = json.loads(stack.shim("migrate", "status", "--json").stdout)
    release = load_manifest().get(newest)
    assert release is not None
    assert migrations["current_version"] == release.migrations[1]


def test_an_update_that_never_gets_healthy_is_rolled_back_by_swarm(site: UpgradeSite) -> None:
    newest, previous, _ = releases()
    tag = f"kgsick{uuid.uuid4().hex[:6]}"
    # The reference api (KG_FAIL_HEALTH): the platform's own is never deliberately unhealthy.
    site.image(f"reference/kg-api:{newest}", f"{tag}/kg-api:{newest}", "ENV KG_FAIL_HEALTH=1")
    api = site.image(f"reference/kg-api:{previous}", f"{tag}/kg-api:{previous}")
    sick = deploy(site, api=api)
    done = sick.shim("upgrade", "--to", newest, "--yes", "--health-timeout", "240", timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rolled back" in done.stdout
    assert "Swarm stopped the update of api" in done.stdout
    assert "keeps the new schema" in done.stdout
    assert on_images(sick, {"api": api, "web": f"kg-web:{previous}"})
    assert upgrade_status(sick)["state"] == "rolled back"
    assert status(sick)["api"]["health"] == "healthy"


def test_a_release_that_is_not_rolling_scales_to_zero_for_its_migrations(
    site: UpgradeSite,
) -> None:
    """The same upgrade when the manifest of the new release does not mark it rolling (its
    operator image is where an upgrade reads the manifest): nothing old runs on the new
    schema; api and web go to zero and come back with their replicas."""
    newest, _, _ = releases()
    operator = not_rolling_operator(site)
    stopping = deploy(site, operator=operator)
    plan = stopping.shim("upgrade", "--to", newest, "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"{newest} is not rolling" in plan.stdout
    assert "scaled to zero for the migrations" in plan.stdout

    with probe(site, stopping) as result:
        done = stopping.shim("upgrade", "--to", newest, "--yes", timeout=900)
        assert done.returncode == 0, done.stdout + done.stderr
    # The same probe that sees no failure in a rolling upgrade sees this one's downtime.
    assert result["failed"] > 0, result
    assert "api, web scaled to zero (this release is not rolling)" in done.stdout
    assert "served throughout" not in done.stdout
    report = next(line for line in done.stdout.splitlines() if "api and web were down" in line)
    print(
        f"\nnot rolling, on Swarm: {report.strip()} probe: {result['ok']} answered, "
        f"{result['failed']} failed, longest between two answers {result['longest_outage']:.2f} s"
    )
    # Back with as many replicas as before, every one on the new release.
    assert on_images(stopping, {"api": f"kg-api:{newest}", "web": f"kg-web:{newest}"})
    steps = step_states(upgrade_status(stopping))
    assert steps["migrate"] == "done"
    assert steps["verify"] == "done"
    release = load_manifest().get(newest)
    assert release is not None
    migrations = json.loads(stopping.shim("migrate", "status", "--json").stdout)
    assert migrations["current_version"] == release.migrations[1]


LOGIN = """
import base64, hashlib, sys, urllib.error, urllib.parse, urllib.request
challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 64).digest()).decode().rstrip("=")
form = urllib.parse.urlencode({"username": sys.argv[1], "password": sys.argv[2],
    "client_id": "kg-web", "redirect_uri": "http://localhost:3000/callback",
    "code_challenge": challenge, "code_challenge_method": "S256"}).encode()
try:
    with urllib.request.urlopen("http://api:8000/auth/oauth/login-and-authorize", form, 10) as r:
        print(r.status, r.read().decode()[:200])
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode()[:200])
"""


def overlay_login(site: UpgradeSite, stack: Stack, username: str, password: str) -> str:
    """``STATUS BODY`` of the api's login-and-authorize, from the stack's overlay network."""
    newest, _, _ = releases()
    done = docker(site.engine, "run", "--rm", "--network", f"{stack.project}_default",
                  "--entrypoint", "python3", f"kg-api:{newest}", "-c", LOGIN,
                  username, password)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
