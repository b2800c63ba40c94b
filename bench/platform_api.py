"""Benchmark the platform's own api: from its container's start to /health 200, and to
``healthy`` (database and Garage); its image sizes.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.platform_api [RUNS]

Needs the images scripts/test.sh builds (kg-api and kg-web of each release are the
platform's own, built by scripts/platform-images.sh). Installs the newest release on a stack
(its schema, `operator.sh start-infra` and `start`, Garage initialised), then RUNS times
(default 5): `docker compose stop api`, then `docker compose start api` while polling the
api's /health every 20 ms. "200" is the first answer (uvicorn up, the app imported and its
startup done); "healthy" the first whose status is `healthy`; "docker" when the engine calls
the container healthy (its HEALTHCHECK's curl -f, every 5 s: what kgop's health gate waits
for besides /health).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from bench.common import runs_on_sites
from tests.support.platform_api import health
from tests.support.stack import UpgradeSite, platform_stack, releases


def docker_health(stack_env: dict[str, str], container: str) -> str:
    done = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Health.Status}}", container],
        env=stack_env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip()


def one_run(site: UpgradeSite) -> dict[str, float]:
    if not site.stacks:
        platform_stack(site, releases()[0])
    stack = site.stacks[0]
    api = f"http://127.0.0.1:{stack.ports['API']}"
    container = f"{stack.project}-api-1"
    assert stack.compose("stop", "api").returncode == 0
    started = time.perf_counter()
    assert stack.compose("start", "api").returncode == 0
    figures: dict[str, float] = {}
    while len(figures) < 3:
        now = time.perf_counter() - started
        if now > 300:
            raise SystemExit(f"the api did not come up in 300 s: {health(api)}")
        answer = health(api)
        if "200" not in figures and "components" in answer:
            figures["200"] = now
        if "healthy" not in figures and answer.get("status") == "healthy":
            figures["healthy"] = now
        if "docker" not in figures and docker_health(stack.env, container) == "healthy":
            figures["docker"] = now
        time.sleep(0.02)
    return figures


def sizes() -> dict[str, str]:
    found = {}
    for version in ("0.14.0", "0.16.0", "0.17.0", "0.17.1"):
        for role in ("api", "web"):
            image = f"kg-{role}:{version}"
            out = subprocess.run(
                ["docker", "image", "inspect", "-f", "{{.Size}}", image],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode == 0:
                found[image] = f"{int(out.stdout) / 1e6:.0f} MB"
    return found


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(json.dumps(sizes(), indent=2))
    results = runs_on_sites(runs, one_run)
    for key in ("200", "healthy", "docker"):
        values = [r[key] for r in results]
        print(
            f"api start → {key}: median {statistics.median(values):.2f} s "
            f"(min {min(values):.2f}, max {max(values):.2f}, {runs} runs)"
        )


if __name__ == "__main__":
    main()
