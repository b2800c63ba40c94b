"""The platform's release images as a Swarm stack, through operator.sh (for the e2e tests
and ``bench.swarm``): deploy and start, status, a probe on the overlay network, and a
target release whose manifest does not mark it rolling.

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
from contextlib import contextmanager
from typing import Any

from kgop_tui.releases import MANIFEST
from tests.support.engines import DockerEngine, wait_for
from tests.support.stack import (
    Stack,
    UpgradeSite,
    kgop_version,
    releases,
    shim_env,
    write_install,
)

DNSRR = "".join(
    f"  {name}:\n    deploy:\n      endpoint_mode: dnsrr\n"
    for name in ("postgres", "garage", "operator", "api", "web")
)
# A client on the overlay: every 50 ms it resolves `api` (every replica's address, dnsrr)
# and asks /health, trying the next address when one refuses, as HTTP clients do with
# several A records; until /probe/stop appears, then it prints its counts and the longest
# time between two answers (a name that no task answers for can block the lookup for a
# while: that time counts, whether or not the lookup then fails).
PROBE = """
import json, os, socket, time, urllib.request
ok = failed = 0
errors = []
longest = 0.0
last_ok = time.monotonic()
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
    now = time.monotonic()
    longest = max(longest, now - last_ok)
    if answered:
        ok += 1
        last_ok = now
    else:
        failed += 1
        errors.append(repr(last)[:120])
    open("/probe/count", "w").write(str(ok + failed))
    time.sleep(0.05)
print(json.dumps({"ok": ok, "failed": failed, "longest_outage": round(longest, 2),
                  "errors": errors[:5]}))
"""


def docker(engine: DockerEngine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], env=engine.env(), capture_output=True, text=True, timeout=300
    )


def swarm_images() -> list[str]:
    """What the stack runs, both releases: to copy onto the Swarm engine."""
    newest, previous, _ = releases()
    images = [f"kg-{role}:{v}" for v in (newest, previous) for role in ("api", "web")]
    images += [platform_image(role, v) for v in (newest, previous) for role in ("api", "web")]
    images += [f"reference/kg-api:{v}" for v in (newest, previous)]  # a never-healthy api
    return [*images, f"kg-operator:{kgop_version()}", "kg-postgres:15", "kg-garage-standin:test"]


def platform_image(role: str, version: str) -> str:
    """The platform's own api or web of ``version``, built from its source by the test
    command (scripts/platform-images.sh)."""
    return f"platform/kg-{role}:{version}"


def deploy(site: UpgradeSite, **images: str) -> Stack:
    """The previous release as a Swarm stack, deployed and started through operator.sh."""
    _, previous, _ = releases()
    home = site.base / f"kg{len(site.stacks)}"
    project, ports = write_install(
        home, site.engine, previous, kgop_version(), platform_schema=True
    )
    (home / "compose" / "swarm-test.yml").write_text("services:\n" + DNSRR)
    lines = [
        "COMPOSE_FILE=compose/compose.yml:compose/swarm-test.yml" if ln.startswith("COMPOSE_FILE=")
        else ln for ln in (home / ".env").read_text().splitlines()
    ] + [f"KG_{role.upper()}_IMAGE={ref}" for role, ref in images.items()]  # fmt: skip
    (home / ".env").write_text("\n".join(lines) + "\n")
    env = shim_env(site.base, site.engine, f"bin{len(site.stacks)}")
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


@contextmanager
def probe(site: UpgradeSite, stack: Stack) -> Iterator[dict[str, Any]]:
    """A client asking api's /health every 50 ms from the stack's overlay network while the
    block runs; the dict it yields gets ok, failed, longest_outage (the longest time between
    two answers, in seconds) and errors after."""
    newest, _, _ = releases()
    folder = site.base / f"probe-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    name = f"{stack.project}-probe-{folder.name[-6:]}"
    # One short DNS try: with no task behind `api` the lookup fails fast, counted. As root:
    # the api image runs as its own user, who may not write into the test's folder.
    started = docker(site.engine, "run", "-d", "--name", name, "--network",
                     f"{stack.project}_default", "--dns-opt", "timeout:1",
                     "--dns-opt", "attempts:1", "--user", "0", "-v", f"{folder}:/probe",
                     "--entrypoint", "python3", f"kg-api:{newest}", "-c", PROBE)  # fmt: skip
    assert started.returncode == 0, started.stderr
    result: dict[str, Any] = {}
    try:
        count = folder / "count"
        wait_for(lambda: count.exists() and int(count.read_text() or 0) > 20, 60, "the probe")
        yield result
        (folder / "stop").write_text("")
        docker(site.engine, "wait", name)
        result.update(json.loads(docker(site.engine, "logs", name).stdout.strip().splitlines()[-1]))
    finally:
        docker(site.engine, "rm", "-f", name)


def not_rolling_operator(site: UpgradeSite) -> str:
    """kgop's operator image under a new name, shipping a manifest without ``rolling``: an
    upgrade reads the target's manifest from the operator that operates the target (here
    the same image, since one kgop operates both releases). Its name, to pin in .env."""
    tag = f"kgstop{uuid.uuid4().hex[:6]}"
    text = MANIFEST.read_text()
    assert "\nrolling = true\n" in text
    kgop = kgop_version()
    return site.operator_shipping(
        f"kg-operator:{kgop}",
        f"{tag}/kg-operator:{kgop}",
        text.replace("\nrolling = true\n", "\n"),
    )


def timed_upgrade(stack: Stack, to: str) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    done = stack.shim("upgrade", "--to", to, "--yes", timeout=900)
    return done, time.monotonic() - began
