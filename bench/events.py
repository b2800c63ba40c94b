"""Benchmark event latency: from ``docker kill`` to the updated ServiceStatus.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.events [ROUNDS]

A watcher follows a throwaway project; each round kills its container through the
Engine API and measures until the watcher reports the service exited, then starts it
again and waits for "running". Prints median, p90 and max over ROUNDS (default 20).
"""

from __future__ import annotations

import queue
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docker as docker_sdk

from bench.common import bench_project, run_service
from kgop_tui.models import ContainerState, StatusUpdate
from kgop_tui.services.docker.docker_engine import DockerService
from kgop_tui.services.docker.events import ProjectWatcher
from kgop_tui.settings import load_settings


def wait_state(updates: queue.Queue[StatusUpdate], state: ContainerState) -> float:
    while True:
        update = updates.get(timeout=30)
        if update.changed is not None and update.changed.state is state:
            return time.perf_counter()


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    client = docker_sdk.from_env()
    with tempfile.TemporaryDirectory() as tmp, bench_project(Path(tmp)) as (project, net):
        cid = run_service(project, net, "victim", "sleep", "infinity")
        settings = load_settings(kg_home=tmp, environ={})
        updates: queue.Queue[StatusUpdate] = queue.Queue()
        watcher = ProjectWatcher(DockerService(settings), updates.put)
        watcher.start()
        updates.get(timeout=30)  # the first snapshot
        latencies = []
        for _ in range(rounds):
            started = time.perf_counter()
            client.api.kill(cid)
            latencies.append(wait_state(updates, ContainerState.EXITED) - started)
            client.api.start(cid)
            wait_state(updates, ContainerState.RUNNING)
        watcher.stop()
    ms = sorted(x * 1000 for x in latencies)
    print(f"events: docker kill -> updated ServiceStatus, {rounds} rounds")
    print(f"  median {statistics.median(ms):.1f} ms, p90 {ms[int(len(ms) * 0.9) - 1]:.1f} ms, "
          f"max {ms[-1]:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
