"""Benchmark the stack: image sizes, start-infra to all healthy, status latency.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.stack

Needs the images scripts/test.sh builds. Lays down a KG_HOME as the e2e test does, then
times `operator.sh start-infra` + `operator.sh start` until every service is healthy, and
`./operator.sh status` against a plain `docker compose ps` (median of 10 each).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tests.e2e.conftest import ROOT, minimal_path, write_install
from tests.support.engines import DockerEngine


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr[-500:]}")
    return time.perf_counter() - started


def main() -> None:
    version = (ROOT / "VERSION").read_text().strip()
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    sizes = {}
    for image in (f"kg-operator:{version}", f"kg-api:{version}", "kg-postgres:15"):
        out = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Size}}", image],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        sizes[image] = int(out) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "kg"
        write_install(home, DockerEngine(host=host, base_image=""), version)
        env = {"PATH": minimal_path(Path(tmp) / "bin"), "DOCKER_HOST": host, "HOME": tmp}
        shim = str(home / "operator.sh")
        try:
            infra = timed([shim, "start-infra"], home, env)
            start = timed([shim, "start"], home, env)
            ours = statistics.median(timed([shim, "status"], home, env) for _ in range(10))
            plain = statistics.median(
                timed(["docker", "compose", "ps"], home, env) for _ in range(10)
            )
        finally:
            subprocess.run(
                ["docker", "compose", "down", "-v", "-t", "2"],
                cwd=home,
                env=env,
                capture_output=True,
            )
    print("stack: image sizes: " + ", ".join(f"{k} {v:.0f} MB" for k, v in sizes.items()))
    print(f"  start-infra (postgres, garage, operator healthy): {infra:.1f} s")
    print(f"  start (migrations, object store, api+web healthy): {start:.1f} s")
    print(f"  from nothing to all healthy: {infra + start:.1f} s")
    print(
        f"  ./operator.sh status {ours * 1000:.0f} ms vs docker compose ps "
        f"{plain * 1000:.0f} ms: {ours / plain:.2f}x"
    )


if __name__ == "__main__":
    main()
