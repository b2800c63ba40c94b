"""Benchmark adoption: the api's downtime and the time of `install.sh --adopt` on a platform
installed by its own install.sh (tests/support/standalone.py), with a database of ~300 MiB.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.adopt [MIB]

Needs the images scripts/test.sh builds (the platform's api and web of 0.16.0, kg-postgres:15,
the Garage stand-in, kgop's operator). The database is filled with rows of 2 KiB of random
hex in kg_api.platform_config (bench_* keys) until it holds MIB (default 300); a probe polls
the api's /health every 50 ms while `install.sh --adopt` runs. The downtime is the time from
the first refused probe (kg-api stopped) to the first healthy answer from kgop's api.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.upgrades import Probe
from tests.support.engines import connect_engine
from tests.support.helpers import execute, fetch
from tests.support.stack import kgop_version
from tests.support.standalone import bring_up, platform_images

ROOT = Path(__file__).resolve().parents[1]


def fill(dsn: str, mib: int) -> float:
    """Rows of 2 KiB of random hex until the database holds ``mib``; its size in MiB."""
    batch = 0
    while True:
        size = fetch(dsn, "SELECT pg_database_size(current_database()) AS n")[0]["n"] / 2**20
        if size >= mib:
            return float(size)
        execute(
            dsn,
            "INSERT INTO kg_api.platform_config (key, value) SELECT "
            f"'bench_{batch}_' || n, to_jsonb((SELECT string_agg(md5(random()::text || n || g), "
            "'') FROM generate_series(1, 64) g)) FROM generate_series(1, 20000) n",
        )
        batch += 1


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    engine = connect_engine()
    base = Path(tempfile.mkdtemp(prefix="kgop-bench-adopt-"))
    env = {**engine.env(), "HOME": str(base), "LANG": "C.UTF-8"}
    env.pop("COMPOSE_PROJECT_NAME", None)
    tags = platform_images(env, "0.16.0", engine.base_image)
    site = bring_up(base / "knowledge-graph", env, "0.16.0", engine.host.removeprefix("unix://"))
    try:
        size = fill(site.dsn, mib)
        with Probe(site.ports["api"]) as warm:
            deadline = time.monotonic() + 180
            while not (warm.samples and warm.samples[-1][1]):
                if time.monotonic() > deadline:
                    raise SystemExit("the platform's api did not become healthy")
                time.sleep(0.05)
        adopt_env = {**site.env, "KG_OPERATOR_IMAGE": f"kg-operator:{kgop_version()}"}
        started = time.perf_counter()
        with Probe(site.ports["api"]) as probe:
            done = subprocess.run(
                [str(ROOT / "install.sh"), "--adopt", str(site.folder), "--yes"],
                env=adopt_env, capture_output=True, text=True, timeout=1800,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"adoption failed: {done.stdout[-3000:]}{done.stderr[-1000:]}")
            deadline = time.monotonic() + 180
            while not (probe.samples and probe.samples[-1][1]):
                if time.monotonic() > deadline:
                    raise SystemExit("kgop's api did not become healthy")
                time.sleep(0.05)
        outages = probe.outages()
        print(f"database: {size:.0f} MiB (pg_database_size)")
        print(f"adoption (install.sh --adopt, wall): {wall:.1f} s")
        print(f"api downtime: {sum(outages):.1f} s in {len(outages)} outage(s) "
              f"({len(probe.samples)} probes every 50 ms, {probe.slow} slow)")  # fmt: skip
    finally:
        home = base / "kg"
        if (home / ".env").exists():
            subprocess.run(["docker", "compose", "down", "-t", "2"], cwd=home, env=env,
                           capture_output=True)  # fmt: skip
        site.teardown()
        subprocess.run(["docker", "rmi", *tags], env=env, capture_output=True)
        subprocess.run(["rm", "-rf", str(base)], check=False)


if __name__ == "__main__":
    os.environ.setdefault("KGOP_REQUIRE_ENGINES", "1")
    main()
