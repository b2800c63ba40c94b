"""The platform's own images as a Docker Swarm stack, through operator.sh only: deploy-swarm,
start, status, logs, and upgrades as rolling updates. On a private engine in Swarm mode
with the release images copied to it, stopped afterwards (Swarm on the shared test engine
disturbs the compose tests running beside it).

Swarm's virtual IPs need IPVS, which this machine's engines lack (iptables off): a test
overlay gives every service ``endpoint_mode: dnsrr``, so service names resolve to the
tasks' own addresses. Everything else is the release's compose files and stack.yml.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from kgop_tui.releases import MANIFEST, load_manifest
from tests.e2e.upgrades import step_states, upgrade_status
from tests.support.engines import DockerEngine, wait_for
from tests.support.stack import (
    Stack,
    UpgradeSite,
    images_or_skip,
    minimal_path,
    releases,
    write_install,
)
from tests.support.swarm import start_swarm_engine

DNSRR = "".join(
    f"  {name}:\n    deploy:\n      endpoint_mode: dnsrr\n"
    for name in ("postgres", "garage", "operator", "api", "web")
)
# A client on the overlay: every 50 ms it resolves `api` (every replica's address, dnsrr)
# and asks /health, trying the next address when one refuses, as HTTP clients do with
# several A records; until /probe/stop appears, then it prints its counts.
PROBE = """
import json, os, socket, time, urllib.request
ok = failed = 0
errors = []
while not os.path.exists("/probe/stop"):
    try:
        addresses = sorted({a[4][0] for a in socket.getaddrinfo("api", 8000, socket.AF_INET)})
    except OSError as exc:
        addresses, last = [], exc
    answered = False
    for address in addresses:
        try:
            with urllib.request.urlopen(f"http://{address}:8000/health", timeout=2) as r:
                answered = r.status == 200
        except Exception as exc:
            last = exc
        if answered:
            break
    if answered:
        ok += 1
    else:
        failed += 1
        errors.append(repr(last)[:120])
    open("/probe/count", "w").write(str(ok + failed))
    time.sleep(0.05)
print(json.dumps({"ok": ok, "failed": failed, "errors": errors[:5]}))
"""


def docker(engine: DockerEngine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], env=engine.env(), capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def swarm(docker_engine: DockerEngine) -> Iterator[DockerEngine]:
    newest, previous, _ = releases()
    for version in (newest, previous):
        images_or_skip(docker_engine, version)
    images = [f"kg-{role}:{v}" for v in (newest, previous) for role in ("operator", "api", "web")]
    yield from start_swarm_engine(
        docker_engine, [*images, "kg-postgres:15", "kg-garage-standin:test"]
    )


@pytest.fixture(scope="module")
def site(swarm: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> UpgradeSite:
    """Stacks and images on the private Swarm engine: they go with it."""
    base = tmp_path_factory.mktemp("swarm-e2e")
    return UpgradeSite(engine=swarm, base=base, stacks=[], images=[])


def deploy(site: UpgradeSite, **images: str) -> Stack:
    """The previous release as a Swarm stack, deployed and started through operator.sh."""
    _, previous, schema = releases()
    home = site.base / f"kg{len(site.stacks)}"
    project, ports = write_install(home, site.engine, previous)
    for path in (home / "sql" / "migrations").glob("*.sql"):
        if int(path.name.split("_", 1)[0]) > schema:
            path.unlink()  # the previous release shipped only its own migrations
    (home / "compose" / "swarm-test.yml").write_text("services:\n" + DNSRR)
    lines = [
        "COMPOSE_FILE=compose/compose.yml:compose/swarm-test.yml" if ln.startswith("COMPOSE_FILE=")
        else ln for ln in (home / ".env").read_text().splitlines()
    ] + [f"KG_{role.upper()}_IMAGE={ref}" for role, ref in images.items()]  # fmt: skip
    (home / ".env").write_text("\n".join(lines) + "\n")
    env = {"PATH": minimal_path(site.base / f"bin{len(site.stacks)}"),
           "DOCKER_HOST": site.engine.host, "HOME": str(site.base), "LANG": "C.UTF-8"}  # fmt: skip
    stack = Stack(home=home, project=project, env=env, ports=ports)
    site.stacks.append(stack)
    deployed = stack.shim("deploy-swarm", "--resolve-image", "never")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    def infra_up() -> bool:
        done = stack.shim("status", "--json")
        if done.returncode != 0:
            return False  # the operator's task is not running yet
        found = {s["service"]: s for s in json.loads(done.stdout)["services"]}
        return all(found.get(n, {}).get("health") == "healthy"
                   for n in ("postgres", "garage", "operator"))  # fmt: skip

    wait_for(infra_up, 240, "postgres, garage and the operator healthy on the swarm", 2)
    started = stack.shim("start", timeout=400)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "deployed by the stack" in started.stdout
    assert "The platform is up" in started.stdout
    return stack


def status(stack: Stack) -> dict[str, Any]:
    done = stack.shim("status", "--json")
    assert done.returncode == 0, done.stderr
    return {s["service"]: s for s in json.loads(done.stdout)["services"]}


def on_images(stack: Stack, images: dict[str, str]) -> bool:
    found = status(stack)
    return all(
        found[name]["replicas"] == 2
        and {t["image"] for t in found[name]["tasks"] if t["state"] == "running"} == {image}
        for name, image in images.items()
    )


@pytest.fixture(scope="module")
def stack(site: UpgradeSite) -> Stack:
    return deploy(site)


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
    probe_dir = site.base / f"probe-{uuid.uuid4().hex[:6]}"
    probe_dir.mkdir()
    name = f"{stack.project}-probe"
    started = docker(site.engine, "run", "-d", "--name", name, "--network",
                     f"{stack.project}_default", "-v", f"{probe_dir}:/probe",
                     "--entrypoint", "python3", f"kg-api:{newest}", "-c", PROBE)  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        count = probe_dir / "count"
        wait_for(lambda: count.exists() and int(count.read_text() or 0) > 20, 60, "the probe")
        began = time.monotonic()
        done = stack.shim("upgrade", "--to", newest, "--yes", timeout=900)
        took = time.monotonic() - began
        assert done.returncode == 0, done.stdout + done.stderr
        assert "served throughout" in done.stdout
        (probe_dir / "stop").write_text("")
        docker(site.engine, "wait", name)
        result = json.loads(docker(site.engine, "logs", name).stdout.strip().splitlines()[-1])
    finally:
        docker(site.engine, "rm", "-f", name)
    print(
        f"\nrolling upgrade {previous} → {newest} on Swarm: {took:.1f} s through operator.sh; "
        f"probe: {result['ok']} answered, {result['failed']} failed {result['errors']}"
    )
    assert result["failed"] == 0, result
    assert result["ok"] > 100
    assert on_images(stack, {"api": f"kg-api:{newest}", "web": f"kg-web:{newest}"})
    # Once the upgrade has ended, the shim moves the operator service to the new image.
    image = "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
    spec = docker(site.engine, "service", "inspect", "-f", image, f"{stack.project}_operator")
    assert spec.stdout.strip().split("@")[0] == f"kg-operator:{newest}", spec.stdout + spec.stderr
    steps = step_states(upgrade_status(stack))
    assert steps["stop"] == "done"
    assert steps["verify"] == "done"
    config = stack.shim("configure", "status", "--json")
    assert [a["username"] for a in json.loads(config.stdout)["admins"]] == ["admin"]
    migrations = json.loads(stack.shim("migrate", "status", "--json").stdout)
    release = load_manifest().get(newest)
    assert release is not None
    assert migrations["current_version"] == release.migrations[1]


def test_an_update_that_never_gets_healthy_is_rolled_back_by_swarm(site: UpgradeSite) -> None:
    newest, previous, _ = releases()
    tag = f"kgsick{uuid.uuid4().hex[:6]}"
    site.image(f"kg-api:{newest}", f"{tag}/kg-api:{newest}", "ENV KG_FAIL_HEALTH=1")
    api = site.image(f"kg-api:{previous}", f"{tag}/kg-api:{previous}")
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
    newest, previous, _ = releases()
    tag = f"kgstop{uuid.uuid4().hex[:6]}"
    text = MANIFEST.read_text()
    assert "\nrolling = true\n" in text
    context = site.base / tag
    context.mkdir()
    (context / "releases.toml").write_text(text.replace("\nrolling = true\n", "\n"))
    (context / "Dockerfile").write_text(
        f"FROM kg-operator:{newest}\nCOPY releases.toml /opt/kgop/share/releases.toml\n"
    )
    target = f"{tag}/kg-operator:{newest}"
    built = site.docker("build", "-q", "-t", target, str(context))
    assert built.returncode == 0, built.stderr
    site.images.append(target)
    operator = site.image(f"kg-operator:{previous}", f"{tag}/kg-operator:{previous}")
    stopping = deploy(site, operator=operator)
    plan = stopping.shim("upgrade", "--to", newest, "--dry-run")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert f"{newest} is not rolling" in plan.stdout
    assert "scaled to zero for the migrations" in plan.stdout

    done = stopping.shim("upgrade", "--to", newest, "--yes", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "api, web scaled to zero (this release is not rolling)" in done.stdout
    assert "served throughout" not in done.stdout
    report = next(line for line in done.stdout.splitlines() if "api and web were down" in line)
    print(f"\nnot rolling, on Swarm: {report.strip()}")
    # Back with as many replicas as before, every one on the new release.
    assert on_images(stopping, {"api": f"kg-api:{newest}", "web": f"kg-web:{newest}"})
    steps = step_states(upgrade_status(stopping))
    assert steps["migrate"] == "done"
    assert steps["verify"] == "done"
    release = load_manifest().get(newest)
    assert release is not None
    migrations = json.loads(stopping.shim("migrate", "status", "--json").stdout)
    assert migrations["current_version"] == release.migrations[1]
