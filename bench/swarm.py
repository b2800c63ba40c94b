"""Benchmark upgrades of a Docker Swarm stack: a rolling release, and one that is not.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.swarm [RUNS]

Needs root, dockerd and the images scripts/test.sh builds (both releases). Starts a private
engine in Swarm mode as the e2e tests do (this machine's engines have no IPVS: services are
reached by their tasks' addresses), and in each run deploys the previous release twice
through operator.sh: one upgraded with the manifest as it ships (0.17.1 is rolling), one with
a manifest that does not mark it rolling (api and web scaled to zero for the migrations).
During each upgrade a probe on the overlay network asks api's /health every 50 ms. Prints
the upgrade's time, the probe's answers and failures, and its longest time without an
answer. The single-host figure to compare with: ``python -m bench.upgrade``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench.common import BASE_IMAGE
from tests.support.engines import DockerEngine
from tests.support.stack import UpgradeSite, releases
from tests.support.swarm import start_swarm_engine
from tests.support.swarm_platform import (
    deploy,
    docker,
    not_rolling_operator,
    probe,
    swarm_images,
    timed_upgrade,
)

KINDS = ("rolling", "not rolling")


def one_upgrade(site: UpgradeSite, kind: str) -> dict[str, float]:
    newest, _, _ = releases()
    images = {"operator": not_rolling_operator(site)} if kind == "not rolling" else {}
    stack = deploy(site, **images)
    try:
        with probe(site, stack) as result:
            done, took = timed_upgrade(stack, newest)
        if done.returncode != 0:
            raise SystemExit(f"the {kind} upgrade failed: {done.stdout[-600:]}{done.stderr}")
    finally:
        docker(site.engine, "stack", "rm", stack.project)
    return {
        "seconds": took,
        "answered": result["ok"],
        "failed": result["failed"],
        "longest_outage": result["longest_outage"],
    }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    engines = start_swarm_engine(DockerEngine(host=host, base_image=BASE_IMAGE), swarm_images())
    engine = next(engines)
    figures: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            site = UpgradeSite(engine=engine, base=Path(tmp), stacks=[], images=[])
            newest, previous, _ = releases()
            for n in range(runs):
                for kind in KINDS:
                    got = one_upgrade(site, kind)
                    figures[kind].append(got)
                    print(
                        f"run {n + 1}, {kind} {previous} → {newest}: {got['seconds']:.1f} s; "
                        f"probe {got['answered']:.0f} answered, {got['failed']:.0f} failed, "
                        f"longest between two answers {got['longest_outage']:.2f} s",
                        flush=True,
                    )
    finally:
        engines.close()  # the swarm left, the private engine stopped and removed
    for kind, rows in figures.items():
        if rows:
            print(
                f"{kind}: median {statistics.median(r['seconds'] for r in rows):.1f} s, "
                f"failed requests {sum(r['failed'] for r in rows):.0f} of "
                f"{sum(r['answered'] + r['failed'] for r in rows):.0f}, longest outage "
                f"{max(r['longest_outage'] for r in rows):.2f} s"
            )


if __name__ == "__main__":
    main()
