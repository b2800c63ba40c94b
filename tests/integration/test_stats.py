"""`kgop status --stats` on the real engine: what each running container costs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.engines import ComposeProject, DockerEngine, busy_and_idle
from tests.support.helpers import kgop_in_project


@pytest.fixture(scope="module")
def project(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeProject]:
    with busy_and_idle(docker_engine, tmp_path_factory.mktemp("kg-stats"), finished=True) as p:
        yield p


def kgop(project: ComposeProject, *args: str) -> subprocess.CompletedProcess[str]:
    return kgop_in_project(project.home, *args)


def test_stats_show_what_each_running_container_costs(project: ComposeProject) -> None:
    done = kgop(project, "status", "--json", "--stats")
    assert done.returncode == 0, done.stderr
    services = {s["service"]: s for s in json.loads(done.stdout)["services"]}
    busy, idle = services["busy"]["stats"], services["idle"]["stats"]
    assert set(busy) == {
        "cpu_percent", "memory_bytes", "memory_limit_bytes", "net_rx_bytes", "net_tx_bytes",
        "block_read_bytes", "block_write_bytes",
    }  # fmt: skip
    # A busy loop gets a whole core on a quiet machine and far less on a loaded one: what
    # holds on both is that it shows clearly busy and far above the sleeping one.
    assert busy["cpu_percent"] > 5, busy
    assert idle["cpu_percent"] < 5, idle
    assert busy["cpu_percent"] > 10 * max(idle["cpu_percent"], 0.1), (busy, idle)
    assert busy["memory_bytes"] > 0
    assert busy["memory_limit_bytes"] >= busy["memory_bytes"]
    assert services["done"]["stats"] is None  # not running: nothing to sample

    text = kgop(project, "status", "--stats")
    assert text.returncode == 0, text.stderr
    header = text.stdout.splitlines()[0].split()
    assert header[-2:] == ["CPU", "MEMORY"]
    busy_row = next(line for line in text.stdout.splitlines() if line.startswith("busy"))
    assert "%" in busy_row


def test_plain_status_json_has_no_stats(project: ComposeProject) -> None:
    done = kgop(project, "status", "--json")
    assert done.returncode == 0, done.stderr
    for service in json.loads(done.stdout)["services"]:
        assert "stats" not in service
