"""Benchmark restores: api downtime of `kgop restore` against one stop + start of api.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.restore [MIB] [RUNS]

Needs the images scripts/test.sh builds. Each run installs a stack, loads about MIB MiB of
rows (default 300), takes a backup, and restores it three ways while a probe polls the
api's /health every 50 ms:

- floor: one stop and start of api (what any restore must cost at least);
- restore: `./operator.sh restore BACKUP --yes` (restores aside while api serves, stops
  api and web only for the swap);
- stopped first: api and web stopped by hand before the same restore and started after it,
  which is how a restore without a side database keeps api down.
"""

from __future__ import annotations

import json
import sys
import time

from bench.common import median_of, runs_on_sites
from tests.e2e.upgrades import Probe
from tests.support.helpers import execute, fetch
from tests.support.stack import Stack, stack_dsn
from tests.support.stack import UpgradeSite as Site


def wait_up(probe: Probe) -> None:
    deadline = time.monotonic() + 180
    while not (probe.samples and probe.samples[-1][1]):
        if time.monotonic() > deadline:
            raise SystemExit("the api did not come back")
        time.sleep(0.05)


def restore(stack: Stack, folder: str) -> dict[str, float]:
    done = stack.shim("restore", folder, "--yes", "--json", timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"restore failed: {done.stdout[-1500:]}{done.stderr[-500:]}")
    result = json.loads(done.stdout)
    return {"seconds": float(result["seconds"]), "kgop_down": float(result["downtime_seconds"])}


def one_run(site: Site, mib: int) -> dict[str, float]:
    stack = site.install()
    dsn = stack_dsn(stack)
    rows = mib * 1024 * 1024 // 150  # a row and its two index entries: about 150 bytes
    execute(
        dsn,
        "CREATE TABLE kg_api.bench AS SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b "
        f"FROM generate_series(1, {rows}) g; CREATE INDEX ON kg_api.bench (a);",
    )
    size = fetch(dsn, "SELECT pg_database_size(current_database()) AS s")[0]["s"]
    started = time.perf_counter()
    made = stack.shim("backup", "--json", timeout=1800)
    backup_s = time.perf_counter() - started
    if made.returncode != 0:
        raise SystemExit(f"backup failed: {made.stderr[-500:]}")
    folder = json.loads(made.stdout)["path"]
    port = stack.ports["API"]

    with Probe(port) as floor:
        stack.compose("stop", "api")
        stack.compose("up", "-d", "--no-deps", "api")
        wait_up(floor)
    with Probe(port) as probe:
        aside = restore(stack, folder)
        wait_up(probe)
    with Probe(port) as stopped_probe:
        stack.compose("stop", "api", "web")
        stopped = restore(stack, folder)
        stack.compose("up", "-d", "--no-deps", "api", "web")
        wait_up(stopped_probe)
    return {
        "database_mib": size / 2**20,
        "backup": backup_s,
        "restore": aside["seconds"],
        "down_probe": max(probe.outages() or [0.0]),
        "down_kgop": aside["kgop_down"],
        "outages": float(len(probe.outages())),
        "floor": max(floor.outages() or [0.0]),
        "stopped_restore": stopped["seconds"],
        "stopped_down": max(stopped_probe.outages() or [0.0]),
    }


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    results = runs_on_sites(runs, lambda site: one_run(site, mib))

    med = median_of(results)

    print(f"\nrestore of a {med('database_mib'):.0f} MiB database, median of {runs} run(s):")
    print(f"  kgop backup:                                {med('backup'):.2f} s")
    print(f"  kgop restore, first step to last:           {med('restore'):.2f} s")
    print(f"  api outages seen by the probe:              {med('outages'):.0f}")
    print(f"  api downtime (probe, 50 ms):                {med('down_probe'):.2f} s")
    print(f"  api downtime (kgop: stop → healthy):        {med('down_kgop'):.2f} s")
    print(f"  one stop + start of api (floor):            {med('floor'):.2f} s")
    print(f"  downtime / floor:                           {med('down_probe') / med('floor'):.2f}x")
    print(f"  api and web stopped for the whole restore:  {med('stopped_down'):.2f} s down")


if __name__ == "__main__":
    main()
