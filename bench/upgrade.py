"""Benchmark upgrades: time and api downtime of previous release → newest, via operator.sh.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.upgrade [RUNS]

Needs the images scripts/test.sh builds (both releases). Each run installs the previous
release on a fresh stack, seeds 10,000 rows, and upgrades with `./operator.sh upgrade
--yes` while a probe polls the api's /health every 50 ms. For scale, the same probe times
the least an upgrade can cost the api: one stop and start of it (`docker compose stop api`
then `up -d api`, healthy again), images already here.
"""

from __future__ import annotations

import statistics
import sys
import time

from bench.common import runs_on_sites
from tests.e2e.upgrades import Probe, upgrade_status
from tests.support.helpers import execute
from tests.support.stack import UpgradeSite as Site
from tests.support.stack import releases, stack_dsn


def seconds(status: dict[str, object], key: str) -> float:
    from datetime import datetime

    step = next(s for s in status["steps"] if s["key"] == key)  # type: ignore[attr-defined]
    start, end = step["started_at"], step["finished_at"]
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def one_run(site: Site) -> dict[str, float]:
    newest, _, _ = releases()
    stack = site.install()
    execute(
        stack_dsn(stack),
        "INSERT INTO kg_api.platform_config (key, value) "
        "SELECT 'bench_' || n, to_jsonb(repeat('x', 200)) FROM generate_series(1, 10000) n;",
    )
    # The floor: one stop + start of the api, as an upgrade needs at least.
    with Probe(stack.ports["API"]) as floor_probe:
        stack.compose("stop", "api")
        stack.compose("up", "-d", "--no-deps", "--wait", "api")
        deadline = time.monotonic() + 120
        while not (floor_probe.samples and floor_probe.samples[-1][1]):
            if time.monotonic() > deadline:
                raise SystemExit("the api did not come back")
            time.sleep(0.05)
    started = time.perf_counter()
    with Probe(stack.ports["API"]) as probe:
        done = stack.shim("upgrade", "--to", newest, "--yes", timeout=900)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"upgrade failed: {done.stdout[-2000:]}{done.stderr[-500:]}")
    status = upgrade_status(stack)
    from datetime import datetime

    runner = (
        datetime.fromisoformat(status["finished_at"]) - datetime.fromisoformat(status["started_at"])
    ).total_seconds()
    outages = probe.outages()
    return {
        "wall": wall,
        "runner": runner,
        "outages": float(len(outages)),
        "down_probe": max(outages) if outages else 0.0,
        "down_kgop": float(status["api_downtime_seconds"]),
        "floor": max(floor_probe.outages() or [0.0]),
        **{
            f"step_{k}": seconds(status, k)
            for k in ("backup", "stop", "migrate", "start", "health")
        },
    }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results = runs_on_sites(runs, one_run)

    def med(key: str) -> float:
        return statistics.median(r[key] for r in results)

    print(f"\nupgrade {releases()[1]} → {releases()[0]}, median of {runs} runs:")
    print(f"  operator.sh upgrade --yes, wall clock:   {med('wall'):.2f} s")
    print(f"  upgrade process, first step to last:     {med('runner'):.2f} s")
    print(
        "  steps: "
        + ", ".join(f"{k[5:]} {med(k):.2f} s" for k in results[0] if k.startswith("step_"))
    )
    print(f"  api outages seen by the probe per run:   {med('outages'):.0f}")
    print(f"  api downtime (probe, 50 ms):             {med('down_probe'):.2f} s")
    print(f"  api downtime (kgop: stop → healthy):     {med('down_kgop'):.2f} s")
    print(f"  one stop + start of the api (floor):     {med('floor'):.2f} s")
    print(f"  downtime / floor:                        {med('down_probe') / med('floor'):.2f}x")


if __name__ == "__main__":
    main()
